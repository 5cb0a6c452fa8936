import type { CardIdentity, TagLink, VirtualCard, VirtualReader } from "../../simulator/pn532/field.ts";
import { VirtualPn532 } from "../../simulator/pn532/virtual-pn532.ts";

export function fromHex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}

export function hex(bytes: ArrayLike<number>): string {
  return Buffer.from(Uint8Array.from(bytes)).toString("hex").toUpperCase().replace(/(..)(?!$)/g, "$1 ");
}

/** Lets queued sends, card answers and the reader's next step run: event-loop turns, no wall-clock waits. */
export async function settle(turns = 4): Promise<void> {
  for (let turn = 0; turn < turns; turn++) await new Promise((resolve) => setImmediate(resolve));
}

/** libnfc `pn532_uart_wakeup`: the HSU wake-up preamble a host sends to a sleeping chip. */
export const libnfcWakeUp = "55 55 00 00 00";
export const ack = "00 00 FF 00 FF 00";

/** A VirtualPn532 driven with raw bytes, as a host stack's UART would, recording everything it answers. */
export class ChipProbe {
  readonly chip = new VirtualPn532();
  private fromChip: number[] = [];

  constructor() {
    this.chip.connect((bytes) => this.fromChip.push(...bytes));
  }

  write(bytes: string | Uint8Array): void {
    this.chip.receive(typeof bytes === "string" ? fromHex(bytes) : bytes);
  }

  /** Everything the chip sent since the last read. */
  async read(): Promise<string> {
    await settle();
    const sent = hex(this.fromChip);
    this.fromChip = [];
    return sent;
  }

  async exchange(bytes: string | Uint8Array): Promise<string> {
    this.write(bytes);
    return this.read();
  }

  /** libnfc's open: wake-up preamble, then SAMConfiguration normal mode (`pn532_uart_send` in LowVBat). */
  async open(): Promise<string> {
    this.write(libnfcWakeUp);
    return this.exchange("00 00 FF 03 FD D4 14 01 17 00");
  }
}

/** An ISO/IEC 14443-4 type A card: ATQA 00 04, SAK 20, UID 08 12 34 56, ATS 05 78 80 70 02 (nfcpy's default ATS). */
export const cardIdentity: CardIdentity = {
  sensRes: Uint8Array.of(0x00, 0x04),
  selRes: 0x20,
  nfcId: Uint8Array.of(0x08, 0x12, 0x34, 0x56),
  ats: Uint8Array.of(0x05, 0x78, 0x80, 0x70, 0x02),
};

/** A card that records the C-APDUs it gets and answers each with `answer(apdu)` (9000 by default). */
export class ScriptedCard implements VirtualCard {
  readonly role = "card";
  readonly identity = cardIdentity;
  readonly received: Uint8Array[] = [];

  constructor(private readonly answer: (apdu: Uint8Array) => Uint8Array = () => Uint8Array.of(0x90, 0x00)) {}

  transceive(apdu: Uint8Array): Uint8Array {
    this.received.push(apdu.slice());
    return this.answer(apdu);
  }
}

/** A phone in reader mode that sends its C-APDUs in turn and keeps the R-APDUs. */
export class ScriptedReader implements VirtualReader {
  readonly role = "reader";
  readonly answers: Uint8Array[] = [];

  constructor(private readonly apdus: Uint8Array[]) {}

  async read(tag: TagLink): Promise<void> {
    for (const apdu of this.apdus) this.answers.push(await tag.transceive(apdu, 5_000));
  }
}

/**
 * An information frame for the tests that need frames too long to write out: normal up to 255 bytes of TFI + data,
 * extended above (UM0701-02 §6.2.1.1, §6.2.1.2). Short traces stay as literal bytes.
 */
export function informationFrame(tfi: number, data: ArrayLike<number>): Uint8Array {
  const body = [tfi, ...Array.from(data)];
  const length = body.length;
  const complement = (sum: number): number => (0x100 - (sum & 0xff)) & 0xff;
  const head =
    length <= 255 ? [length, complement(length)] : [0xff, 0xff, length >> 8, length & 0xff, complement((length >> 8) + (length & 0xff))];
  return Uint8Array.from([0x00, 0x00, 0xff, ...head, ...body, complement(body.reduce((sum, byte) => sum + byte, 0)), 0x00]);
}

export function bytesCounting(count: number, from = 0): number[] {
  return Array.from({ length: count }, (_, i) => (from + i) & 0xff);
}
