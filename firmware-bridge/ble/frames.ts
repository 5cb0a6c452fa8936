import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { assertInRanges, type Ranges } from "../../core/ranges.ts";

/**
 * The BLE link layer between hub and glasses. One message (CBOR) is cut into frames that each fit one ATT
 * write or notification (MTU − 3 bytes). Every frame carries its own header and CRC, so a garbled frame is
 * dropped on its own, and the receiver puts messages back together in sequence order, reporting drops,
 * duplicates and reordering instead of guessing.
 *
 * Frame, big-endian:
 *   0     version (1)
 *   1–2   message sequence number (wraps at 65536; both ends restart at 0 on every connection)
 *   3–4   fragment index
 *   5–6   fragment count
 *   7–8   total message length in bytes
 *   9–12  CRC-32 (IEEE) over bytes 0–8 and the payload
 *   13…   payload
 */
export const frameVersion = 1;
export const frameHeaderBytes = 13;
/** ATT opcode and handle in front of every write or notification. */
export const attHeaderBytes = 3;
/** The ATT MTU every BLE link starts with, and the largest one the spec allows. */
export const attMtuMin = 23;
export const attMtuMax = 517;
const seqModulo = 0x10000;
const seqHalf = 0x8000;

export interface FrameLimits {
  /** Largest message, in bytes, either end will send or reassemble. */
  messageBytesMax: number;
  /** Most fragments one message may have (bounds the per-message buffer). */
  fragmentsMax: number;
  /** Messages held at once while waiting for earlier ones: the reorder window. */
  messagesInFlightMax: number;
  /** How long an incomplete message (or a hole before waiting ones) may wait before it is declared lost. */
  reassemblyTimeoutMs: number;
  /** Delivered sequence numbers remembered to tell a duplicate from a late frame. */
  deliveredRememberedMax: number;
}

/** 4 KiB fits every glasses message (a pair response is ~300 bytes) even at the minimum MTU (586 frames). */
export const defaultFrameLimits: FrameLimits = {
  messageBytesMax: 4096,
  fragmentsMax: 1024,
  messagesInFlightMax: 8,
  reassemblyTimeoutMs: 2_000,
  deliveredRememberedMax: 64,
};

const frameLimitRanges: Required<Ranges<FrameLimits>> = {
  messageBytesMax: [1, 0xffff, "bytes"],
  fragmentsMax: [1, 0xffff, "fragments"],
  messagesInFlightMax: [1, 256, "messages"],
  reassemblyTimeoutMs: [1, 600_000, "milliseconds"],
  deliveredRememberedMax: [1, 4096, "sequence numbers"],
};

export function checkFrameLimits(limits: FrameLimits): FrameLimits {
  return assertInRanges(limits, frameLimitRanges, "BLE frame limits");
}

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, as zlib), chainable over several buffers. */
export function crc32(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

export function framePayloadBytesMax(mtu: number): number {
  assert(Number.isSafeInteger(mtu) && mtu >= attMtuMin && mtu <= attMtuMax, `ATT MTU ${mtu} outside ${attMtuMin}..${attMtuMax}`);
  return mtu - attHeaderBytes - frameHeaderBytes;
}

export interface FrameHeader {
  seq: number;
  index: number;
  count: number;
  totalLength: number;
}

export interface Frame extends FrameHeader {
  payload: Buffer;
}

/** Cuts one message into frames for the given ATT MTU (BleMessageTooLarge past the limits). */
export function encodeFrames(seq: number, message: Uint8Array, mtu: number, limits: FrameLimits = defaultFrameLimits): Buffer[] {
  assert(Number.isSafeInteger(seq) && seq >= 0 && seq < seqModulo, `sequence number ${seq} is not a uint16`);
  assert(message.length > 0, "a link message is never empty");
  if (message.length > limits.messageBytesMax) {
    throw new TapwireError(`message of ${message.length} bytes exceeds ${limits.messageBytesMax}`, ErrorCode.BleMessageTooLarge);
  }
  const payloadMax = framePayloadBytesMax(mtu);
  const count = Math.ceil(message.length / payloadMax);
  if (count > limits.fragmentsMax) {
    throw new TapwireError(`message needs ${count} fragments at MTU ${mtu}, limit ${limits.fragmentsMax}`, ErrorCode.BleMessageTooLarge);
  }
  const frames: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    const payload = message.subarray(index * payloadMax, (index + 1) * payloadMax);
    const frame = Buffer.alloc(frameHeaderBytes + payload.length);
    frame.writeUInt8(frameVersion, 0);
    frame.writeUInt16BE(seq, 1);
    frame.writeUInt16BE(index, 3);
    frame.writeUInt16BE(count, 5);
    frame.writeUInt16BE(message.length, 7);
    frame.set(payload, frameHeaderBytes);
    frame.writeUInt32BE(crc32(payload, crc32(frame.subarray(0, 9))), 9);
    frames.push(frame);
  }
  return frames;
}

function invalid(reason: string): TapwireError {
  return new TapwireError(`invalid frame: ${reason}`, ErrorCode.BleFrameInvalid);
}

/** Parses and checks one frame on its own: length, version, CRC and header consistency. */
export function decodeFrame(bytes: Uint8Array, limits: FrameLimits = defaultFrameLimits): Frame {
  if (bytes.length <= frameHeaderBytes) throw invalid(`${bytes.length} bytes is too short`);
  const frame = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const payload = frame.subarray(frameHeaderBytes);
  if (crc32(payload, crc32(frame.subarray(0, 9))) !== frame.readUInt32BE(9)) throw invalid("CRC mismatch");
  if (frame.readUInt8(0) !== frameVersion) throw invalid(`version ${frame.readUInt8(0)} is not ${frameVersion}`);
  const header = {
    seq: frame.readUInt16BE(1),
    index: frame.readUInt16BE(3),
    count: frame.readUInt16BE(5),
    totalLength: frame.readUInt16BE(7),
  };
  if (header.count === 0 || header.index >= header.count) throw invalid(`fragment ${header.index} of ${header.count}`);
  if (header.count > limits.fragmentsMax) throw invalid(`${header.count} fragments exceed ${limits.fragmentsMax}`);
  if (header.totalLength > limits.messageBytesMax) throw invalid(`${header.totalLength} bytes exceed ${limits.messageBytesMax}`);
  if (payload.length > header.totalLength) throw invalid("payload longer than the message");
  return { ...header, payload: Buffer.from(payload) };
}

/** Numbers outgoing messages; one per direction per connection. */
export class FrameSequencer {
  private nextSeq = 0;
  constructor(private readonly limits: FrameLimits = defaultFrameLimits) {}

  /** Takes the next sequence number and frames the message at `mtu`. */
  encode(message: Uint8Array, mtu: number): { seq: number; frames: Buffer[] } {
    const seq = this.nextSeq;
    const frames = encodeFrames(seq, message, mtu, this.limits);
    this.nextSeq = (seq + 1) % seqModulo;
    return { seq, frames };
  }

  /** Frames an already-numbered message again, e.g. after the MTU shrank in the middle of sending it. */
  reencode(seq: number, message: Uint8Array, mtu: number): Buffer[] {
    return encodeFrames(seq, message, mtu, this.limits);
  }

  reset(): void {
    this.nextSeq = 0;
  }
}

export type LinkEvent =
  | { kind: "message"; seq: number; bytes: Buffer }
  | { kind: "invalid"; code: typeof ErrorCode.BleFrameInvalid; reason: string; seq?: number }
  /** Messages `fromSeq`…`fromSeq + count − 1` will never be delivered. */
  | { kind: "gap"; code: typeof ErrorCode.BleSequenceGap; fromSeq: number; count: number; cause: "skipped" | "timeout" | "broken" }
  | { kind: "duplicate"; code: typeof ErrorCode.BleDuplicate; seq: number; index: number }
  /** A frame of a message already given up on. */
  | { kind: "late"; code: typeof ErrorCode.BleSequenceGap; seq: number; index: number }
  | { kind: "reordered"; seq: number; index: number }
  /** The sender framed the message again (new MTU); what had arrived of it was discarded. */
  | { kind: "restarted"; seq: number };

export interface ReassemblyStats {
  frames: number;
  messages: number;
  invalid: number;
  duplicates: number;
  lostMessages: number;
  reordered: number;
}

interface Pending {
  count: number;
  totalLength: number;
  fragments: Array<Buffer | undefined>;
  received: number;
  receivedBytes: number;
  highestIndex: number;
  firstAtMs: number;
  message: Buffer | undefined;
  broken: boolean;
}

/**
 * Puts frames back into messages and delivers them in sequence order, each at most once. Holds at most
 * `messagesInFlightMax` messages of at most `messageBytesMax` bytes; a hole older than
 * `reassemblyTimeoutMs` is declared lost so later messages are not held forever.
 */
export class Reassembler {
  private expectedSeq = 0;
  private highestOffset = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly delivered = new Set<number>();
  private readonly deliveredOrder: number[] = [];
  readonly stats: ReassemblyStats = { frames: 0, messages: 0, invalid: 0, duplicates: 0, lostMessages: 0, reordered: 0 };

  constructor(private readonly limits: FrameLimits = defaultFrameLimits) {
    checkFrameLimits(limits);
  }

  reset(): void {
    this.expectedSeq = 0;
    this.highestOffset = 0;
    this.pending.clear();
    this.delivered.clear();
    this.deliveredOrder.length = 0;
  }

  /** Bytes currently held for incomplete or waiting messages. */
  get bufferedBytes(): number {
    let total = 0;
    for (const p of this.pending.values()) total += p.message ? p.message.length : p.receivedBytes;
    return total;
  }

  push(bytes: Uint8Array, nowMs: number): LinkEvent[] {
    const events = this.expire(nowMs);
    this.stats.frames++;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes, this.limits);
    } catch (error) {
      this.stats.invalid++;
      events.push({ kind: "invalid", code: ErrorCode.BleFrameInvalid, reason: (error as Error).message });
      return events;
    }
    const offset = (frame.seq - this.expectedSeq + seqModulo) % seqModulo;
    if (offset >= seqHalf) {
      this.behind(frame, events);
      return events;
    }
    if (offset >= this.limits.messagesInFlightMax) {
      this.skipTo((frame.seq - this.limits.messagesInFlightMax + 1 + seqModulo) % seqModulo, "skipped", events);
    }
    this.accept(frame, nowMs, events);
    this.drain(events);
    return events;
  }

  /** Declares lost whatever has waited longer than the reassembly timeout; call it on a timer too. */
  expire(nowMs: number): LinkEvent[] {
    const events: LinkEvent[] = [];
    for (let round = 0; round <= this.limits.messagesInFlightMax && this.pending.size > 0; round++) {
      const head = this.pending.get(this.expectedSeq);
      if (head) {
        if (nowMs - head.firstAtMs < this.limits.reassemblyTimeoutMs) break;
        head.broken = true;
        this.drain(events, "timeout");
        continue;
      }
      const [nextSeq, next] = this.nearestPending();
      if (nowMs - next.firstAtMs < this.limits.reassemblyTimeoutMs) break;
      this.skipTo(nextSeq, "timeout", events);
      this.drain(events);
    }
    return events;
  }

  private behind(frame: Frame, events: LinkEvent[]): void {
    if (this.delivered.has(frame.seq)) {
      this.stats.duplicates++;
      events.push({ kind: "duplicate", code: ErrorCode.BleDuplicate, seq: frame.seq, index: frame.index });
    } else {
      events.push({ kind: "late", code: ErrorCode.BleSequenceGap, seq: frame.seq, index: frame.index });
    }
  }

  private accept(frame: Frame, nowMs: number, events: LinkEvent[]): void {
    let entry = this.pending.get(frame.seq);
    if (entry && (entry.count !== frame.count || entry.totalLength !== frame.totalLength)) {
      if (entry.message || entry.broken) {
        this.stats.invalid++;
        events.push({ kind: "invalid", code: ErrorCode.BleFrameInvalid, reason: "frame conflicts with a complete message", seq: frame.seq });
        return;
      }
      events.push({ kind: "restarted", seq: frame.seq });
      entry = undefined;
    }
    if (!entry) {
      entry = {
        count: frame.count,
        totalLength: frame.totalLength,
        fragments: new Array<Buffer | undefined>(frame.count),
        received: 0,
        receivedBytes: 0,
        highestIndex: -1,
        firstAtMs: nowMs,
        message: undefined,
        broken: false,
      };
      this.pending.set(frame.seq, entry);
      assert(this.pending.size <= this.limits.messagesInFlightMax, "reassembly holds more messages than its window");
    }
    if (entry.message || entry.broken || entry.fragments[frame.index]) {
      this.stats.duplicates++;
      events.push({ kind: "duplicate", code: ErrorCode.BleDuplicate, seq: frame.seq, index: frame.index });
      return;
    }
    const offset = (frame.seq - this.expectedSeq + seqModulo) % seqModulo;
    const earlierMessage = offset < this.highestOffset;
    const earlierFragment = offset === this.highestOffset && frame.index < entry.highestIndex;
    if (earlierMessage || earlierFragment) {
      this.stats.reordered++;
      events.push({ kind: "reordered", seq: frame.seq, index: frame.index });
    }
    this.highestOffset = Math.max(this.highestOffset, offset);
    entry.highestIndex = Math.max(entry.highestIndex, frame.index);
    entry.fragments[frame.index] = frame.payload;
    entry.received++;
    entry.receivedBytes += frame.payload.length;
    if (entry.receivedBytes > entry.totalLength) {
      this.breakMessage(entry, frame.seq, "fragments longer than the message", events);
      return;
    }
    if (entry.received === entry.count) this.complete(entry, frame.seq, events);
  }

  private complete(entry: Pending, seq: number, events: LinkEvent[]): void {
    if (entry.receivedBytes !== entry.totalLength) {
      this.breakMessage(entry, seq, `fragments add up to ${entry.receivedBytes} bytes, header says ${entry.totalLength}`, events);
      return;
    }
    entry.message = Buffer.concat(entry.fragments as Buffer[]);
    entry.fragments = [];
  }

  private breakMessage(entry: Pending, seq: number, reason: string, events: LinkEvent[]): void {
    this.stats.invalid++;
    events.push({ kind: "invalid", code: ErrorCode.BleFrameInvalid, reason, seq });
    entry.broken = true;
    entry.fragments = [];
  }

  /** Delivers complete messages at the head of the sequence; a broken head is reported lost. */
  private drain(events: LinkEvent[], brokenCause: "timeout" | "broken" = "broken"): void {
    for (let round = 0; round < this.limits.messagesInFlightMax; round++) {
      const head = this.pending.get(this.expectedSeq);
      if (!head || (!head.message && !head.broken)) return;
      if (head.message) {
        this.stats.messages++;
        this.remember(this.expectedSeq);
        events.push({ kind: "message", seq: this.expectedSeq, bytes: head.message });
      } else {
        this.stats.lostMessages++;
        events.push({ kind: "gap", code: ErrorCode.BleSequenceGap, fromSeq: this.expectedSeq, count: 1, cause: brokenCause });
      }
      this.advance(1);
    }
  }

  /** Gives up on every message before `targetSeq`, delivering those already complete. */
  private skipTo(targetSeq: number, cause: "skipped" | "timeout", events: LinkEvent[]): void {
    let remaining = (targetSeq - this.expectedSeq + seqModulo) % seqModulo;
    let runStart = this.expectedSeq;
    let runLength = 0;
    const closeRun = () => {
      if (runLength === 0) return;
      this.stats.lostMessages += runLength;
      events.push({ kind: "gap", code: ErrorCode.BleSequenceGap, fromSeq: runStart, count: runLength, cause });
      runLength = 0;
    };
    while (remaining > 0) {
      if (this.pending.size === 0) {
        runLength += remaining;
        this.advance(remaining);
        break;
      }
      const head = this.pending.get(this.expectedSeq);
      if (head?.message) {
        closeRun();
        this.stats.messages++;
        this.remember(this.expectedSeq);
        events.push({ kind: "message", seq: this.expectedSeq, bytes: head.message });
      } else {
        if (runLength === 0) runStart = this.expectedSeq;
        runLength++;
      }
      this.advance(1);
      remaining--;
    }
    closeRun();
  }

  private advance(count: number): void {
    for (let i = 0; i < Math.min(count, this.limits.messagesInFlightMax); i++) {
      this.pending.delete((this.expectedSeq + i) % seqModulo);
    }
    this.expectedSeq = (this.expectedSeq + count) % seqModulo;
    this.highestOffset = Math.max(0, this.highestOffset - count);
  }

  private nearestPending(): [number, Pending] {
    let best: [number, Pending] | undefined;
    let bestOffset = seqModulo;
    for (const [seq, entry] of this.pending) {
      const offset = (seq - this.expectedSeq + seqModulo) % seqModulo;
      if (offset < bestOffset) {
        bestOffset = offset;
        best = [seq, entry];
      }
    }
    assert(best !== undefined, "nearestPending needs a pending message");
    return best;
  }

  private remember(seq: number): void {
    this.delivered.add(seq);
    this.deliveredOrder.push(seq);
    if (this.deliveredOrder.length > this.limits.deliveredRememberedMax) {
      this.delivered.delete(this.deliveredOrder.shift()!);
    }
  }
}
