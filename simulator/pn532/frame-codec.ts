import { assert } from "../../core/assert.ts";

/**
 * The PN532 host link as the chip sees it, written from NXP UM0701-02 §6.2 and kept apart from the driver's codec
 * (firmware-bridge/nfc/) so that a mistake in either shows up as a disagreement between the two.
 *
 *   normal frame    00 | 00 FF | LEN | LCS | TFI PD0..PDn | DCS | 00                (§6.2.1.1)
 *   extended frame  00 | 00 FF | FF FF | LENM LENL | LCS | TFI PD0..PDn | DCS | 00  (§6.2.1.2)
 *   ACK  00 00 FF 00 FF 00 (§6.2.1.3)   NACK 00 00 FF FF 00 00 (§6.2.1.4)   error 00 00 FF 01 FF 7F 81 00 (§6.2.1.5)
 *
 * LEN counts TFI and the PD bytes; the low byte of LEN + LCS is 0 (of LENM + LENL + LCS in an extended frame) and the
 * low byte of TFI + PD0 + … + PDn + DCS is 0. Preamble and postamble may be any number of 0x00 bytes (§6.2.1.6).
 */
export const tfiFromHost = 0xd4;
export const tfiToHost = 0xd5;
/** TFI of the syntax error frame the chip sends for an application-level error (§6.2.1.5). */
export const tfiSyntaxError = 0x7f;

/** TFI + PD bytes a normal frame's one-byte LEN counts: "limited to 255 bytes (including TFI)" (§6.2.1.1). */
export const normalFrameLengthMax = 255;
/** TFI + PD bytes the firmware holds: "the maximum length of the packet data is limited to 264 bytes" (§6.2.1.2). */
export const frameLengthMax = 265;

/** With fRemovePrePostAmble (SetParameters bit 6, UM0701-02 §7.2.9) the chip sends neither preamble nor postamble. */
export interface FrameStyle {
  prePostAmble: boolean;
}

function lowByteComplement(sum: number): number {
  return (0x100 - (sum & 0xff)) & 0xff;
}

function framed(startCodeOnward: number[], style: FrameStyle): Uint8Array {
  return Uint8Array.from(style.prePostAmble ? [0x00, ...startCodeOnward, 0x00] : startCodeOnward);
}

export function encodeAck(style: FrameStyle): Uint8Array {
  return framed([0x00, 0xff, 0x00, 0xff], style);
}

/** Only the host sends NACK (§6.2.1.4); the chip sends one only when a fault switch tells it to misbehave. */
export function encodeNack(style: FrameStyle): Uint8Array {
  return framed([0x00, 0xff, 0xff, 0x00], style);
}

export function encodeSyntaxError(style: FrameStyle): Uint8Array {
  return framed([0x00, 0xff, 0x01, 0xff, tfiSyntaxError, 0x81], style);
}

/** A normal frame when TFI + data fit LEN, otherwise an extended one: the chip picks the suitable type (§6.2.1.2). */
export function encodeInformation(tfi: number, data: ArrayLike<number>, style: FrameStyle): Uint8Array {
  const length = data.length + 1;
  assert(length <= frameLengthMax, `PN532 frame of ${length} bytes exceeds ${frameLengthMax}`);
  const lengthField =
    length <= normalFrameLengthMax
      ? [length, lowByteComplement(length)]
      : [0xff, 0xff, length >> 8, length & 0xff, lowByteComplement((length >> 8) + (length & 0xff))];
  let sum = tfi;
  const body = [tfi];
  for (let i = 0; i < data.length; i++) {
    sum += data[i]!;
    body.push(data[i]!);
  }
  return framed([0x00, 0xff, ...lengthField, ...body, lowByteComplement(sum)], style);
}

/** Offset of the DCS byte in a frame this module encoded, for fault injection. */
export function dcsOffset(frame: Uint8Array, style: FrameStyle): number {
  return frame.length - (style.prePostAmble ? 2 : 1);
}

export type HostFrame =
  | { kind: "ack" }
  | { kind: "nack" }
  | { kind: "information"; tfi: number; data: Uint8Array; extended: boolean };

/** Why a frame was dropped without an answer: the chip neither ACKs nor NACKs what it could not read. */
export type DropReason = "lengthChecksum" | "dataChecksum" | "length";

export type HostLinkEvent = HostFrame | { kind: "dropped"; reason: DropReason };

type ReaderState = "hunt" | "len" | "lcs" | "lenHigh" | "lenLow" | "extendedLcs" | "body" | "dcs";

/**
 * Reads the host's bytes one at a time, as the chip's firmware does: hunts for the start code 00 00 FF through any
 * garbage, checks LCS, collects the body, checks DCS. A bad checksum or an impossible length drops the frame and
 * hunting starts again at the next byte; bytes already taken into the dropped frame are not rescanned, so a frame
 * that arrives inside a truncated one is lost and the host has to send it again. Holds one body at most.
 */
export class HostFrameReader {
  private state: ReaderState = "hunt";
  private zerosSeen = 0;
  private lengthByte = 0;
  private lengthHigh = 0;
  private length = 0;
  private extended = false;
  private readonly body = new Uint8Array(frameLengthMax);
  private filled = 0;
  private sum = 0;

  reset(): void {
    this.state = "hunt";
    this.zerosSeen = 0;
  }

  push(bytes: ArrayLike<number>): HostLinkEvent[] {
    const events: HostLinkEvent[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const event = this.feed(bytes[i]!);
      if (event) events.push(event);
    }
    return events;
  }

  feed(byte: number): HostLinkEvent | undefined {
    switch (this.state) {
      case "hunt":
        return this.hunt(byte);
      case "len":
        this.lengthByte = byte;
        this.state = "lcs";
        return undefined;
      case "lcs":
        return this.lengthChecksum(byte);
      case "lenHigh":
        this.lengthHigh = byte;
        this.state = "lenLow";
        return undefined;
      case "lenLow":
        this.lengthByte = byte;
        this.state = "extendedLcs";
        return undefined;
      case "extendedLcs":
        if (((this.lengthHigh + this.lengthByte + byte) & 0xff) !== 0) return this.drop("lengthChecksum");
        return this.startBody((this.lengthHigh << 8) | this.lengthByte, true);
      case "body":
        this.body[this.filled++] = byte;
        this.sum += byte;
        if (this.filled === this.length) this.state = "dcs";
        return undefined;
      case "dcs":
        return this.dataChecksum(byte);
    }
  }

  private hunt(byte: number): undefined {
    if (byte === 0xff && this.zerosSeen === 2) {
      this.state = "len";
      this.zerosSeen = 0;
    } else {
      this.zerosSeen = byte === 0x00 ? Math.min(this.zerosSeen + 1, 2) : 0;
    }
    return undefined;
  }

  private lengthChecksum(lcs: number): HostLinkEvent | undefined {
    const len = this.lengthByte;
    if (len === 0x00 && lcs === 0xff) return this.finish({ kind: "ack" });
    if (len === 0xff && lcs === 0x00) return this.finish({ kind: "nack" });
    if (len === 0xff && lcs === 0xff) {
      this.state = "lenHigh";
      return undefined;
    }
    if (((len + lcs) & 0xff) !== 0) return this.drop("lengthChecksum");
    return this.startBody(len, false);
  }

  private startBody(length: number, extended: boolean): HostLinkEvent | undefined {
    if (length === 0 || length > frameLengthMax) return this.drop("length");
    this.length = length;
    this.extended = extended;
    this.filled = 0;
    this.sum = 0;
    this.state = "body";
    return undefined;
  }

  private dataChecksum(dcs: number): HostLinkEvent {
    if (((this.sum + dcs) & 0xff) !== 0) return this.drop("dataChecksum");
    const tfi = this.body[0]!;
    const data = this.body.slice(1, this.length);
    return this.finish({ kind: "information", tfi, data, extended: this.extended });
  }

  private drop(reason: DropReason): HostLinkEvent {
    return this.finish({ kind: "dropped", reason });
  }

  private finish(event: HostLinkEvent): HostLinkEvent {
    this.state = "hunt";
    this.zerosSeen = 0;
    return event;
  }
}
