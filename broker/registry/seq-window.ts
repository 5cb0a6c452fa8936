import { assert } from "../../core/assert.ts";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";

/**
 * A hub's anti-replay window (RFC 4303 §3.4.3, RFC 6347 §4.1.2.6): the highest seq seen, and one bit for each of
 * the contract.seqWindow − 1 seqs below it, set once that seq was accepted. The top itself is always seen (0
 * before any request: seq 0 is never valid). Every seq is accepted at most once whatever order requests arrive
 * in, which several settlement workers need; one below the window is refused, as nothing remembers it.
 */
export interface SeqWindow {
  topSeq: number;
  /** Bit d (byte d >> 3, bit d & 7) set: seq topSeq − d was accepted. Bit 0 unused. */
  seenBelow: Uint8Array;
}

export const seqWindowBytes = contract.seqWindow / 8;

const windowMask = (1n << BigInt(contract.seqWindow)) - 1n;

export function emptySeqWindow(): SeqWindow {
  return { topSeq: 0, seenBelow: new Uint8Array(seqWindowBytes) };
}

/** The window after accepting `seq`, or the typed refusal (SeqReplayed, SeqBelowWindow); nothing is changed. */
export function acceptSeq(window: SeqWindow, seq: number): SeqWindow | TapwireError {
  assert(Number.isSafeInteger(seq) && seq >= 0, `seq ${seq} was checked by the schema`);
  assert(window.seenBelow.length === seqWindowBytes, `a seq window holds ${seqWindowBytes} bytes`);
  if (seq > window.topSeq) {
    const shift = BigInt(Math.min(seq - window.topSeq, contract.seqWindow));
    // The old top moves `shift` below the new one, and was seen.
    const seen = ((toBigInt(window.seenBelow) << shift) | (1n << shift)) & windowMask;
    return { topSeq: seq, seenBelow: toBytes(seen) };
  }
  const distance = window.topSeq - seq;
  if (distance >= contract.seqWindow) {
    return new TapwireError(`seq ${seq} is ${distance} below ${window.topSeq}, outside the ${contract.seqWindow}-seq window`, ErrorCode.SeqBelowWindow, { seq });
  }
  const bit = 1n << BigInt(distance);
  const seen = toBigInt(window.seenBelow);
  if (distance === 0 || (seen & bit) !== 0n) {
    return new TapwireError(`seq ${seq} was already accepted`, ErrorCode.SeqReplayed, { seq });
  }
  return { topSeq: window.topSeq, seenBelow: toBytes(seen | bit) };
}

function toBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  return value;
}

function toBytes(value: bigint): Uint8Array {
  const bytes = new Uint8Array(seqWindowBytes);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return bytes;
}
