import { assert } from "../../core/assert.ts";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { pooledCopy, pooledZeros } from "../../protocol/bytes.ts";

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

export function emptySeqWindow(): SeqWindow {
  return { topSeq: 0, seenBelow: new Uint8Array(seqWindowBytes) };
}

/** The window after accepting `seq`, or the typed refusal (SeqReplayed, SeqBelowWindow); nothing is changed. */
export function acceptSeq(window: SeqWindow, seq: number): SeqWindow | TapwireError {
  assert(Number.isSafeInteger(seq) && seq >= 0, `seq ${seq} was checked by the schema`);
  assert(window.seenBelow.length === seqWindowBytes, `a seq window holds ${seqWindowBytes} bytes`);
  if (seq > window.topSeq) {
    const shift = Math.min(seq - window.topSeq, contract.seqWindow);
    const seenBelow = shiftedUp(window.seenBelow, shift);
    // The old top moves `shift` below the new one, and was seen (unless that is past the window's end).
    if (shift < contract.seqWindow) setBit(seenBelow, shift);
    return { topSeq: seq, seenBelow };
  }
  const distance = window.topSeq - seq;
  if (distance >= contract.seqWindow) {
    return new TapwireError(`seq ${seq} is ${distance} below ${window.topSeq}, outside the ${contract.seqWindow}-seq window`, ErrorCode.SeqBelowWindow, { seq });
  }
  if (distance === 0 || (window.seenBelow[distance >> 3]! & (1 << (distance & 7))) !== 0) {
    return new TapwireError(`seq ${seq} was already accepted`, ErrorCode.SeqReplayed, { seq });
  }
  const seenBelow = pooledCopy(window.seenBelow);
  setBit(seenBelow, distance);
  return { topSeq: window.topSeq, seenBelow };
}

/** A copy of the bits with bit d moved to d + shift; those moved past the window's end are dropped. */
function shiftedUp(bits: Uint8Array, shift: number): Uint8Array {
  const shifted = pooledZeros(seqWindowBytes);
  const byteShift = shift >> 3;
  const bitShift = shift & 7;
  for (let index = seqWindowBytes - 1; index >= byteShift; index -= 1) {
    const from = index - byteShift;
    const carried = bitShift === 0 || from === 0 ? 0 : bits[from - 1]! >> (8 - bitShift);
    shifted[index] = ((bits[from]! << bitShift) | carried) & 0xff;
  }
  return shifted;
}

function setBit(bits: Uint8Array, bit: number): void {
  bits[bit >> 3]! |= 1 << (bit & 7);
}
