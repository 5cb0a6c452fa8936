import { describe, expect, it } from "vitest";
import {
  FrameSequencer,
  Reassembler,
  attMtuMax,
  attMtuMin,
  crc32,
  decodeFrame,
  defaultFrameLimits,
  encodeFrames,
  frameHeaderBytes,
  type FrameLimits,
  type LinkEvent,
} from "../../firmware-bridge/ble/frames.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { SeededRandom } from "../../core/sources.ts";

const limits: FrameLimits = { ...defaultFrameLimits, messagesInFlightMax: 4, reassemblyTimeoutMs: 100 };

function message(length: number, seed = length): Buffer {
  return Buffer.from(new SeededRandom(seed).bytes(length));
}

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (error) {
    return isTapwireError(error) ? error.code : -1;
  }
  return undefined;
}

function delivered(events: LinkEvent[]): Buffer[] {
  return events.flatMap((e) => (e.kind === "message" ? [e.bytes] : []));
}

function kinds(events: LinkEvent[]): string[] {
  return events.map((e) => e.kind);
}

/** Feeds frames at time `nowMs` and returns every event. */
function feed(reassembler: Reassembler, frames: Buffer[], nowMs = 0): LinkEvent[] {
  return frames.flatMap((frame) => reassembler.push(frame, nowMs));
}

describe("CRC-32", () => {
  it("matches the IEEE check value", () => {
    expect(crc32(Buffer.from("123456789"))).toBe(0xcbf43926);
    expect(crc32(Buffer.from("6789"), crc32(Buffer.from("12345")))).toBe(0xcbf43926);
  });
});

describe("encodeFrames / decodeFrame", () => {
  it.each([attMtuMin, 64, 185, attMtuMax])("fragments to ATT MTU %i and every frame fits MTU-3", (mtu) => {
    const bytes = message(1000);
    const frames = encodeFrames(7, bytes, mtu);
    expect(frames.length).toBe(Math.ceil(1000 / (mtu - 3 - frameHeaderBytes)));
    for (const frame of frames) expect(frame.length).toBeLessThanOrEqual(mtu - 3);
    const decoded = frames.map((f) => decodeFrame(f));
    expect(decoded.map((d) => d.index)).toEqual(frames.map((_, i) => i));
    expect(decoded.every((d) => d.seq === 7 && d.count === frames.length && d.totalLength === 1000)).toBe(true);
    expect(Buffer.concat(decoded.map((d) => d.payload)).equals(bytes)).toBe(true);
  });

  it("refuses messages beyond messageBytesMax or fragmentsMax", () => {
    expect(codeOf(() => encodeFrames(0, message(4097), 247))).toBe(ErrorCode.BleMessageTooLarge);
    expect(codeOf(() => encodeFrames(0, message(100), attMtuMin, { ...limits, fragmentsMax: 10 }))).toBe(ErrorCode.BleMessageTooLarge);
  });

  it("rejects a garbled, short, wrong-version or inconsistent frame with BleFrameInvalid", () => {
    const [frame] = encodeFrames(1, message(50), 247);
    const garbled = Buffer.from(frame!);
    garbled[20] = garbled[20]! ^ 1;
    expect(codeOf(() => decodeFrame(garbled))).toBe(ErrorCode.BleFrameInvalid);
    expect(codeOf(() => decodeFrame(frame!.subarray(0, frameHeaderBytes)))).toBe(ErrorCode.BleFrameInvalid);

    const rewrite = (mutate: (f: Buffer) => void) => {
      const copy = Buffer.from(frame!);
      mutate(copy);
      copy.writeUInt32BE(crc32(copy.subarray(frameHeaderBytes), crc32(copy.subarray(0, 9))), 9);
      return copy;
    };
    expect(codeOf(() => decodeFrame(rewrite((f) => f.writeUInt8(2, 0))))).toBe(ErrorCode.BleFrameInvalid);
    expect(codeOf(() => decodeFrame(rewrite((f) => f.writeUInt16BE(1, 3))))).toBe(ErrorCode.BleFrameInvalid);
    expect(codeOf(() => decodeFrame(rewrite((f) => f.writeUInt16BE(10, 7))))).toBe(ErrorCode.BleFrameInvalid);
    expect(codeOf(() => decodeFrame(rewrite((f) => f.writeUInt16BE(60_000, 7))))).toBe(ErrorCode.BleFrameInvalid);
  });
});

describe("Reassembler", () => {
  it("delivers messages in order, each exactly once", () => {
    const sender = new FrameSequencer(limits);
    const receiver = new Reassembler(limits);
    const sent = [message(10), message(300), message(1)];
    const events = sent.flatMap((m) => feed(receiver, sender.encode(m, attMtuMin).frames));
    expect(delivered(events)).toEqual(sent);
    expect(kinds(events).filter((k) => k !== "message")).toEqual([]);
    expect(receiver.bufferedBytes).toBe(0);
  });

  it("reassembles fragments that arrive out of order and reports the reordering", () => {
    const receiver = new Reassembler(limits);
    const bytes = message(200);
    const frames = encodeFrames(0, bytes, 64);
    const swapped = [frames[1]!, frames[0]!, ...frames.slice(2)];
    const events = feed(receiver, swapped);
    expect(delivered(events)).toEqual([bytes]);
    expect(kinds(events)).toContain("reordered");
  });

  it("holds a later message until the earlier one completes, then delivers both in sequence", () => {
    const sender = new FrameSequencer(limits);
    const receiver = new Reassembler(limits);
    const first = sender.encode(message(120), 64).frames;
    const second = sender.encode(message(20), 64).frames;
    const events = feed(receiver, [...first.slice(0, -1), ...second, first.at(-1)!]);
    expect(events.filter((e) => e.kind === "message").map((e) => (e as { seq: number }).seq)).toEqual([0, 1]);
    expect(kinds(events)).toContain("reordered");
  });

  it("delivers a duplicated message once and reports each duplicate frame", () => {
    const receiver = new Reassembler(limits);
    const bytes = message(150);
    const frames = encodeFrames(0, bytes, 64);
    const events = feed(receiver, [...frames, ...frames, frames[0]!]);
    expect(delivered(events)).toEqual([bytes]);
    const duplicates = events.filter((e) => e.kind === "duplicate");
    expect(duplicates.length).toBe(frames.length + 1);
    expect(duplicates.every((e) => e.kind === "duplicate" && e.code === ErrorCode.BleDuplicate)).toBe(true);
  });

  it("never delivers a message with a garbled fragment; it is reported lost after the timeout", () => {
    const sender = new FrameSequencer(limits);
    const receiver = new Reassembler(limits);
    const lost = sender.encode(message(120), 64).frames;
    const garbled = Buffer.from(lost[1]!);
    garbled[garbled.length - 1] = garbled[garbled.length - 1]! ^ 0xff;
    const after = sender.encode(message(30), 64).frames;
    const events = feed(receiver, [lost[0]!, garbled, ...lost.slice(2), ...after], 0);
    expect(events.find((e) => e.kind === "invalid")).toMatchObject({ code: ErrorCode.BleFrameInvalid });
    expect(delivered(events)).toEqual([]);

    const expired = receiver.expire(limits.reassemblyTimeoutMs);
    expect(expired[0]).toMatchObject({ kind: "gap", code: ErrorCode.BleSequenceGap, fromSeq: 0, count: 1, cause: "timeout" });
    expect(delivered(expired)).toEqual([message(30)]);
  });

  it("reports a whole dropped message as a gap once a later message has waited too long", () => {
    const sender = new FrameSequencer(limits);
    const receiver = new Reassembler(limits);
    sender.encode(message(40), 247);
    const events = feed(receiver, sender.encode(message(41), 247).frames, 0);
    expect(delivered(events)).toEqual([]);
    expect(receiver.expire(limits.reassemblyTimeoutMs - 1)).toEqual([]);
    const expired = receiver.expire(limits.reassemblyTimeoutMs);
    expect(expired.map((e) => e.kind)).toEqual(["gap", "message"]);
    expect(expired[0]).toMatchObject({ fromSeq: 0, count: 1, cause: "timeout" });
    expect(receiver.stats.lostMessages).toBe(1);
  });

  it("skips ahead at once when a sequence number lands beyond the reorder window", () => {
    const receiver = new Reassembler(limits);
    const events = feed(receiver, encodeFrames(10, message(5), 247));
    expect(events[0]).toMatchObject({ kind: "gap", fromSeq: 0, count: 7, cause: "skipped" });
    expect(receiver.expire(limits.reassemblyTimeoutMs)).toMatchObject([{ kind: "gap", fromSeq: 7, count: 3 }, { kind: "message", seq: 10 }]);
  });

  it("calls a frame of a message already given up on late, not a duplicate, and never delivers it", () => {
    const receiver = new Reassembler(limits);
    const frames = encodeFrames(0, message(100), 64);
    feed(receiver, [frames[0]!], 0);
    receiver.expire(limits.reassemblyTimeoutMs);
    const events = feed(receiver, frames.slice(1), limits.reassemblyTimeoutMs);
    expect(kinds(events).every((k) => k === "late")).toBe(true);
    expect(delivered(events)).toEqual([]);
  });

  it("discards a half-received message the sender framed again at a smaller MTU and delivers the new framing", () => {
    const receiver = new Reassembler(limits);
    const bytes = message(300);
    const big = encodeFrames(0, bytes, 185);
    const small = encodeFrames(0, bytes, 64);
    const events = feed(receiver, [big[0]!, ...small]);
    expect(kinds(events)).toContain("restarted");
    expect(delivered(events)).toEqual([bytes]);
  });

  it("keeps order across the sequence number wrap", () => {
    const receiver = new Reassembler(limits);
    const count = 65_540;
    const tail: LinkEvent[] = [];
    for (let i = 0; i < count; i++) {
      const events = receiver.push(encodeFrames(i % 65_536, Buffer.of(i & 0xff), 247)[0]!, 0);
      if (i >= 65_530) tail.push(...events);
    }
    expect(kinds(tail)).toEqual(new Array(10).fill("message"));
    expect(tail.map((e) => (e as { seq: number }).seq)).toEqual([65_530, 65_531, 65_532, 65_533, 65_534, 65_535, 0, 1, 2, 3]);
    expect(receiver.stats.messages).toBe(count);
  });

  it("never holds more than its window of messages", () => {
    const receiver = new Reassembler(limits);
    const frames = Array.from({ length: 20 }, (_, seq) => encodeFrames(seq + 1, message(500, seq), 64)[0]!);
    feed(receiver, frames);
    expect(receiver.bufferedBytes).toBeLessThanOrEqual(limits.messagesInFlightMax * limits.messageBytesMax);
    expect(receiver.bufferedBytes).toBeLessThanOrEqual(limits.messagesInFlightMax * 64);
  });

  it("under random drops, duplicates, reordering and garbling delivers only intact messages, in order, at most once", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = new SeededRandom(seed);
      const sender = new FrameSequencer(limits);
      const receiver = new Reassembler(limits);
      const sent = Array.from({ length: 40 }, (_, i) => message(1 + (random.bytes(1)[0]! * 3), seed * 1000 + i));
      const wire: Buffer[] = [];
      for (const m of sent) wire.push(...sender.encode(m, 23 + random.bytes(1)[0]!).frames);
      const noisy: Buffer[] = [];
      for (let i = 0; i < wire.length; i++) {
        const roll = random.bytes(1)[0]!;
        const frame = wire[i]!;
        if (roll < 8) continue;
        if (roll < 16) {
          const copy = Buffer.from(frame);
          copy[copy.length - 1] = copy[copy.length - 1]! ^ 0x80;
          noisy.push(copy);
        } else if (roll < 24) noisy.push(frame, frame);
        else if (roll < 32 && i + 1 < wire.length) {
          noisy.push(wire[i + 1]!, frame);
          i++;
        } else noisy.push(frame);
      }
      // A clean last message: a receiver can only notice a loss once something after it arrives.
      const sentinel = Buffer.from("end");
      sent.push(sentinel);
      noisy.push(...sender.encode(sentinel, 247).frames);
      let nowMs = 0;
      const events: LinkEvent[] = [];
      for (const frame of noisy) events.push(...receiver.push(frame, (nowMs += 1)));
      events.push(...receiver.expire(nowMs + limits.reassemblyTimeoutMs));
      const got = events.flatMap((e) => (e.kind === "message" ? [e] : []));
      const seqs = got.map((e) => e.seq);
      expect(new Set(seqs).size).toBe(seqs.length);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
      for (const e of got) expect(e.bytes.equals(sent[e.seq]!)).toBe(true);
      const lost = events.reduce((sum, e) => sum + (e.kind === "gap" ? e.count : 0), 0);
      expect(got.length + lost).toBe(sent.length);
    }
  });
});
