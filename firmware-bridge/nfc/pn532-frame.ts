import { assert } from "../../core/assert.ts";

/**
 * PN532 host-link frames (UM0701-02 §6.2): normal `00 00 FF LEN LCS TFI data DCS 00`, extended
 * `00 00 FF FF FF LENM LENL LCS TFI data DCS 00`, ACK, NACK and the application error frame. LEN counts
 * TFI + data; LEN + LCS ≡ 0 and TFI + Σdata + DCS ≡ 0 (mod 256).
 */
export const tfiHostToPn532 = 0xd4;
export const tfiPn532ToHost = 0xd5;
export const tfiApplicationError = 0x7f;

export const ackBytes = Uint8Array.of(0x00, 0x00, 0xff, 0x00, 0xff, 0x00);
export const nackBytes = Uint8Array.of(0x00, 0x00, 0xff, 0xff, 0x00, 0x00);
export const errorFrameBytes = Uint8Array.of(0x00, 0x00, 0xff, 0x01, 0xff, 0x7f, 0x81, 0x00);

/** TFI + data that fit a normal frame's one-byte LEN. */
export const normalFrameLengthMax = 255;
/** TFI + data the PN532 can hold (its frame buffer is 265 bytes, UM0701-02 §6.2.1.3). */
export const extendedFrameLengthMax = 265;
/** Preamble, start code, LEN(s), LCS, DCS and postamble of an extended frame. */
const extendedOverheadBytes = 10;
export const frameBytesMaxDefault = extendedFrameLengthMax + extendedOverheadBytes;

export type Pn532Frame =
  | { kind: "ack" }
  | { kind: "nack" }
  | { kind: "error" }
  | { kind: "information"; tfi: number; data: Uint8Array; extended: boolean };

export type Pn532ParseEvent =
  | { type: "frame"; frame: Pn532Frame }
  /** LCS or DCS did not add up; the parser dropped the start code and resynchronised. */
  | { type: "checksum"; field: "length" | "data" }
  /** A frame announced more bytes than frameBytesMax; the parser resynchronised. */
  | { type: "tooLong"; frameBytes: number }
  /** Bytes before a start code that were not a frame's postamble. */
  | { type: "discarded"; bytes: number };

function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const byte of bytes) sum = (sum + byte) & 0xff;
  return (0x100 - sum) & 0xff;
}

/** An information frame; normal when TFI + data fit LEN, extended otherwise. */
export function encodeInformationFrame(tfi: number, data: Uint8Array): Uint8Array {
  const length = data.length + 1;
  assert(length <= extendedFrameLengthMax, `PN532 frame of ${length} bytes exceeds ${extendedFrameLengthMax}`);
  const body = new Uint8Array(length);
  body[0] = tfi;
  body.set(data, 1);
  const head =
    length <= normalFrameLengthMax
      ? [0x00, 0x00, 0xff, length, checksum(Uint8Array.of(length))]
      : [0x00, 0x00, 0xff, 0xff, 0xff, length >> 8, length & 0xff, checksum(Uint8Array.of(length >> 8, length & 0xff))];
  return Uint8Array.from([...head, ...body, checksum(body), 0x00]);
}

export function encodeFrame(frame: Pn532Frame): Uint8Array {
  switch (frame.kind) {
    case "ack":
      return ackBytes.slice();
    case "nack":
      return nackBytes.slice();
    case "error":
      return errorFrameBytes.slice();
    case "information":
      return encodeInformationFrame(frame.tfi, frame.data);
  }
}

/** Decodes exactly one frame (for tests and tools); anything else in `bytes` is an error. */
export function decodeFrame(bytes: Uint8Array): Pn532Frame {
  const parser = new Pn532FrameParser(Math.max(bytes.length + 1, 16));
  const events = parser.push(bytes);
  const frames = events.filter((event) => event.type === "frame");
  assert(frames.length === 1 && events.length === 1, `expected exactly one PN532 frame, got ${JSON.stringify(events)}`);
  return frames[0]!.frame;
}

function indexOfStartCode(buffer: Uint8Array): number {
  for (let i = 0; i + 2 < buffer.length; i++) {
    if (buffer[i] === 0x00 && buffer[i + 1] === 0x00 && buffer[i + 2] === 0xff) return i;
  }
  return -1;
}

/**
 * Incremental parser: hunts for `00 00 FF` after garbage, survives frames split over chunks, reports bad
 * LCS/DCS and oversize frames as events and resynchronises one byte after the rejected start code (the
 * announced length of a corrupt frame cannot be trusted). The bytes it holds never exceed frameBytesMax.
 */
export class Pn532FrameParser {
  private buffer = new Uint8Array(0);
  /** After a frame, one 0x00 postamble is expected and is not garbage. */
  private postamblePending = false;

  constructor(readonly frameBytesMax: number = frameBytesMaxDefault) {
    assert(Number.isInteger(frameBytesMax) && frameBytesMax >= 16, "frameBytesMax must be an integer ≥ 16");
  }

  get bufferedBytes(): number {
    return this.buffer.length;
  }

  reset(): void {
    this.buffer = new Uint8Array(0);
    this.postamblePending = false;
  }

  push(chunk: Uint8Array): Pn532ParseEvent[] {
    const events: Pn532ParseEvent[] = [];
    for (let offset = 0; offset < chunk.length; offset += this.frameBytesMax) {
      const slice = chunk.subarray(offset, offset + this.frameBytesMax);
      const joined = new Uint8Array(this.buffer.length + slice.length);
      joined.set(this.buffer);
      joined.set(slice, this.buffer.length);
      this.buffer = joined;
      this.drain(events);
      assert(this.buffer.length <= this.frameBytesMax, "PN532 parser buffer exceeded frameBytesMax");
    }
    return events;
  }

  private drain(events: Pn532ParseEvent[]): void {
    // Each pass consumes at least one byte or stops, so the loop ends within buffer.length passes.
    for (let pass = 0; pass <= this.frameBytesMax * 2 && this.buffer.length > 0; pass++) {
      const start = indexOfStartCode(this.buffer);
      if (start < 0) {
        // Keep a possible partial start code ("00" or "00 00") for the next chunk.
        this.discard(Math.max(0, this.buffer.length - 2), events);
        return;
      }
      this.discard(start, events);
      const result = this.takeFrame();
      if (result === "incomplete") return;
      events.push(result);
      if (result.type === "frame") this.postamblePending = true;
    }
  }

  private discard(count: number, events: Pn532ParseEvent[]): void {
    if (count === 0) return;
    let garbage = count;
    if (this.postamblePending && this.buffer[0] === 0x00) garbage--;
    this.postamblePending = false;
    this.buffer = this.buffer.subarray(count);
    if (garbage > 0) events.push({ type: "discarded", bytes: garbage });
  }

  /** With a start code at buffer[0]: one frame, one rejection, or a wait for more bytes. */
  private takeFrame(): Pn532ParseEvent | "incomplete" {
    const b = this.buffer;
    if (b.length < 5) return "incomplete";
    const first = b[3]!;
    const second = b[4]!;
    if (first === 0x00 && second === 0xff) return this.consume(5, { kind: "ack" });
    if (first === 0xff && second === 0x00) return this.consume(5, { kind: "nack" });
    const extended = first === 0xff && second === 0xff;
    let length: number;
    let headBytes: number;
    if (extended) {
      if (b.length < 8) return "incomplete";
      length = (b[5]! << 8) | b[6]!;
      headBytes = 8;
      if (((b[5]! + b[6]! + b[7]!) & 0xff) !== 0 || length === 0) return this.reject({ type: "checksum", field: "length" });
    } else {
      length = first;
      headBytes = 5;
      if (((first + second) & 0xff) !== 0 || length === 0) return this.reject({ type: "checksum", field: "length" });
    }
    const frameBytes = headBytes + length + 2;
    if (frameBytes > this.frameBytesMax) return this.reject({ type: "tooLong", frameBytes });
    if (b.length < headBytes + length + 1) return "incomplete";
    const body = b.subarray(headBytes, headBytes + length);
    if (checksum(body) !== b[headBytes + length]) return this.reject({ type: "checksum", field: "data" });
    const tfi = body[0]!;
    const data = body.slice(1);
    const frame: Pn532Frame =
      tfi === tfiApplicationError && data.length === 0 ? { kind: "error" } : { kind: "information", tfi, data, extended };
    return this.consume(headBytes + length + 1, frame);
  }

  private consume(count: number, frame: Pn532Frame): Pn532ParseEvent {
    this.buffer = this.buffer.subarray(count);
    return { type: "frame", frame };
  }

  private reject(event: Pn532ParseEvent): Pn532ParseEvent {
    this.buffer = this.buffer.subarray(1);
    this.postamblePending = false;
    return event;
  }
}
