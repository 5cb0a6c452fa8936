import { assert } from "../../core/assert.ts";
import {
  capabilityContainerFileId,
  encodeCapabilityContainer,
  ndefApplicationAid,
  ndefFileId,
} from "../../protocol/ndef.ts";
import { decodeCommandApdu, encodeResponseApdu, Ins, StatusWord, type CommandApdu } from "../../protocol/nfc-apdu.ts";
import { sameBytes } from "../../protocol/bytes.ts";

/** R-APDU data that still fits one PN532 TgSetData frame (255 − TFI − command − SW1 SW2 = 251, kept round). */
export const mleBytesMax = 250;

type SelectedFile = "none" | "cc" | "ndef";

/**
 * One tap's worth of an NFC Forum Type 4 Tag (read-only): answers SELECT of the NDEF application and of the
 * CC and NDEF files, and READ BINARY, and keeps track of which NDEF file bytes the reader has read.
 * A new session starts on every activation, as a real tag is reset when it leaves the field.
 */
export class Type4TagSession {
  private applicationSelected = false;
  private selected: SelectedFile = "none";
  private readonly capabilityContainer: Uint8Array;
  private readonly ndefBytesRead: Uint8Array;
  private ndefBytesUnread: number;

  constructor(
    private readonly ndefFile: Uint8Array,
    private readonly mleBytes: number,
  ) {
    assert(mleBytes >= 0x0f && mleBytes <= mleBytesMax, `MLe must be 15..${mleBytesMax} bytes`);
    assert(ndefFile.length >= 2 && ndefFile.length <= 0x7fff, "NDEF file must hold NLEN and fit 15 bits");
    this.capabilityContainer = encodeCapabilityContainer({
      mleBytes,
      mlcBytes: mleBytes,
      ndefFileId,
      ndefFileBytesMax: ndefFile.length,
      readOnly: true,
    });
    this.ndefBytesRead = new Uint8Array(ndefFile.length);
    this.ndefBytesUnread = ndefFile.length;
  }

  /** True once every byte of the NDEF file (NLEN and message) has gone to the reader. */
  get ndefFileRead(): boolean {
    return this.ndefBytesUnread === 0;
  }

  answer(commandBytes: Uint8Array): Uint8Array {
    let apdu: CommandApdu;
    try {
      apdu = decodeCommandApdu(commandBytes);
    } catch {
      return status(StatusWord.wrongLength);
    }
    if (apdu.cla !== 0x00) return status(StatusWord.claNotSupported);
    if (apdu.ins === Ins.select) return this.select(apdu);
    if (apdu.ins === Ins.readBinary) return this.readBinary(apdu);
    return status(StatusWord.insNotSupported);
  }

  private select(apdu: CommandApdu): Uint8Array {
    if (apdu.p1 === 0x04) {
      if (!sameBytes(apdu.data, ndefApplicationAid)) return status(StatusWord.fileNotFound);
      this.applicationSelected = true;
      this.selected = "none";
      return status(StatusWord.ok);
    }
    if (apdu.p1 !== 0x00) return status(StatusWord.wrongP1P2);
    if (!this.applicationSelected || apdu.data.length !== 2) return status(StatusWord.fileNotFound);
    const fileId = (apdu.data[0]! << 8) | apdu.data[1]!;
    if (fileId === capabilityContainerFileId) this.selected = "cc";
    else if (fileId === ndefFileId) this.selected = "ndef";
    else return status(StatusWord.fileNotFound);
    return status(StatusWord.ok);
  }

  private readBinary(apdu: CommandApdu): Uint8Array {
    if (this.selected === "none") return status(StatusWord.conditionsNotSatisfied);
    if ((apdu.p1 & 0x80) !== 0) return status(StatusWord.wrongP1P2);
    const file = this.selected === "cc" ? this.capabilityContainer : this.ndefFile;
    const offset = (apdu.p1 << 8) | apdu.p2;
    if (offset >= file.length) return status(StatusWord.wrongP1P2);
    const length = Math.min(apdu.le ?? 256, this.mleBytes, file.length - offset);
    if (this.selected === "ndef") this.markRead(offset, length);
    return encodeResponseApdu(file.subarray(offset, offset + length), StatusWord.ok);
  }

  private markRead(offset: number, length: number): void {
    for (let i = offset; i < offset + length; i++) {
      if (this.ndefBytesRead[i] === 0) {
        this.ndefBytesRead[i] = 1;
        this.ndefBytesUnread--;
      }
    }
  }
}

function status(sw: number): Uint8Array {
  return encodeResponseApdu(new Uint8Array(0), sw);
}
