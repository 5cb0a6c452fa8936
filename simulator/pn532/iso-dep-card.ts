/**
 * The card side of ISO/IEC 14443-4 (ISO-DEP) block framing for a virtual card that only understands APDUs. The chip
 * uses it when the host drives the block protocol itself through InCommunicateThru (nfcpy does, after a SetParameters
 * without automatic RATS): RATS → ATS, I-blocks with chaining both ways, R(ACK), R(NAK) as a presence check and
 * S(DESELECT). Blocks here carry no CRC: the chip appends and checks it. CID and NAD are not supported: a block that
 * carries them gets no answer, like a card that does not support them.
 */
export type IsoDepAnswer =
  | { kind: "block"; bytes: Uint8Array }
  | { kind: "apdu"; apdu: Uint8Array; blockNumber: number }
  | { kind: "silent" };

/** FSD for FSDI 0–8 (ISO/IEC 14443-4 §5.1); higher values are read as 256. */
const fsdBytesByFsdi = [16, 24, 32, 40, 48, 64, 96, 128, 256];
const fsdBytesDefault = 256;
/** PCB and the two CRC bytes that share a block with its INF field. */
const blockOverheadBytes = 3;
/** A chained C-APDU the card collects before answering: an extended-length APDU (7 + 65535 + 3 bytes). */
export const chainedApduBytesMax = 65_545;

const silent: IsoDepAnswer = { kind: "silent" };

export class IsoDepCard {
  active = false;
  private fsdBytes = fsdBytesDefault;
  private blockNumber = 1;
  private chainIn: number[] = [];
  private chainOut: Uint8Array | undefined;

  constructor(private readonly ats: Uint8Array) {}

  /** The chip sent RATS itself (automatic RATS, FSDI 8 as in `E0 80`). */
  activateByChip(): void {
    this.reset(true, fsdBytesDefault);
  }

  deactivate(): void {
    this.reset(false, fsdBytesDefault);
  }

  receive(frame: Uint8Array): IsoDepAnswer {
    const pcb = frame[0];
    if (pcb === undefined) return silent;
    if (!this.active) {
      if (pcb !== 0xe0 || frame.length !== 2) return silent;
      this.reset(true, fsdBytesByFsdi[frame[1]! >> 4] ?? fsdBytesDefault);
      return { kind: "block", bytes: this.ats.slice() };
    }
    if ((pcb & 0xe2) === 0x02) return this.iBlock(pcb, frame.subarray(1));
    if ((pcb & 0xf6) === 0xa2) return this.nextChainedBlock(pcb & 0x01);
    if ((pcb & 0xf6) === 0xb2) return { kind: "block", bytes: Uint8Array.of(0xa2 | this.blockNumber) };
    if ((pcb & 0xf7) === 0xc2) {
      this.deactivate();
      return { kind: "block", bytes: Uint8Array.of(0xc2) };
    }
    return silent;
  }

  /** The first block of the card's answer to an I-block; the rest follows on R(ACK). */
  answer(rapdu: Uint8Array, blockNumber: number): Uint8Array {
    this.chainOut = rapdu;
    return this.nextBlock(blockNumber);
  }

  private iBlock(pcb: number, inf: Uint8Array): IsoDepAnswer {
    if ((pcb & 0x0c) !== 0) return silent;
    const blockNumber = pcb & 0x01;
    if (this.chainIn.length + inf.length > chainedApduBytesMax) {
      this.chainIn = [];
      return silent;
    }
    for (const byte of inf) this.chainIn.push(byte);
    if ((pcb & 0x10) !== 0) return { kind: "block", bytes: Uint8Array.of(0xa2 | blockNumber) };
    const apdu = Uint8Array.from(this.chainIn);
    this.chainIn = [];
    return { kind: "apdu", apdu, blockNumber };
  }

  private nextChainedBlock(blockNumber: number): IsoDepAnswer {
    if (!this.chainOut) return silent;
    return { kind: "block", bytes: this.nextBlock(blockNumber) };
  }

  private nextBlock(blockNumber: number): Uint8Array {
    const rest = this.chainOut ?? new Uint8Array(0);
    const infBytesMax = this.fsdBytes - blockOverheadBytes;
    const more = rest.length > infBytesMax;
    const inf = rest.subarray(0, infBytesMax);
    this.chainOut = more ? rest.subarray(infBytesMax) : undefined;
    this.blockNumber = blockNumber;
    return Uint8Array.from([(more ? 0x12 : 0x02) | blockNumber, ...inf]);
  }

  private reset(active: boolean, fsdBytes: number): void {
    this.active = active;
    this.fsdBytes = fsdBytes;
    this.blockNumber = 1;
    this.chainIn = [];
    this.chainOut = undefined;
  }
}
