import { Tag } from "cbor-x";
import { assert } from "../core/assert.ts";
import { cborNestingMax } from "./cbor-decode.ts";

/**
 * Core deterministic encoding (RFC 8949 §4.2.1), so that a signer, a verifier and any third party build the
 * same bytes from the same value: shortest heads for integers, lengths and tags; definite lengths only; map
 * keys in the bytewise order of their own encodings; floats in the shortest of half/single/double that keeps
 * the value (NaN as f97e00). A JavaScript number that is a safe integer is written as a CBOR integer, never as
 * a float (so millisecond times are uint64, and −0 is 0). Bigints up to 64 bits are integers too.
 *
 * Only values a message can hold are accepted: null, undefined, booleans, numbers, bigints, strings,
 * Uint8Arrays (byte strings), arrays, Maps, plain objects and cbor-x `Tag`s. Anything else, and nesting beyond
 * what the decoder accepts, is a programmer error.
 */
const uint64Max = (1n << 64n) - 1n;
const initialBytes = 512;
/** Room kept between encodes for the outermost one: a message and its COSE envelope fit. */
const spareBytes = 4_096;

interface Block {
  bytes: Buffer;
  view: DataView;
}

function block(bytes: Buffer): Block {
  return { bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

/**
 * The outermost encode writes here and copies out only what it wrote, instead of taking 512 bytes of Node's buffer
 * pool for itself: a payment's few encodes then use the pool by the bytes they hold, and a new 8 KB pool block (whose
 * memory V8 allocates apart, the costly part) is needed a few times less often. Nested encodes (a Map's keys, each
 * encoded alone to be sorted) find it taken and use the pool as before.
 */
let spare: Block | undefined = block(Buffer.allocUnsafeSlow(spareBytes));

/** Grows by doubling. */
class ByteSink {
  private readonly borrowed = spare;
  private bytes: Buffer;
  private view: DataView;
  private length = 0;

  constructor() {
    spare = undefined;
    const start = this.borrowed ?? block(Buffer.allocUnsafe(initialBytes));
    this.bytes = start.bytes;
    this.view = start.view;
  }

  /** The bytes written, and the sink's borrowed room given back: call once, when done or on the way out of a throw. */
  finish(): Buffer {
    if (this.borrowed === undefined) return this.bytes.subarray(0, this.length);
    spare = this.borrowed;
    const written = Buffer.allocUnsafe(this.length);
    this.bytes.copy(written, 0, 0, this.length);
    return written;
  }

  /** Makes room for `count` more bytes and returns where they start. */
  private reserve(count: number): number {
    const start = this.length;
    if (start + count > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, start + count));
      this.bytes.copy(grown, 0, 0, start);
      this.bytes = grown;
      this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
    }
    this.length += count;
    return start;
  }

  // Each writer reserves before it reads `bytes`/`view`: reserving may replace them with larger ones.
  byte(value: number): void {
    const at = this.reserve(1);
    this.bytes[at] = value;
  }

  raw(value: Uint8Array): void {
    const at = this.reserve(value.length);
    this.bytes.set(value, at);
  }

  uint16(value: number): void {
    const at = this.reserve(2);
    this.view.setUint16(at, value);
  }

  uint32(value: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, value);
  }

  uint64(value: bigint): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, value);
  }

  float32(value: number): void {
    const at = this.reserve(4);
    this.view.setFloat32(at, value);
  }

  float64(value: number): void {
    const at = this.reserve(8);
    this.view.setFloat64(at, value);
  }

  text(value: string): void {
    if (value.length < 24 && isAscii(value)) {
      const at = this.reserve(value.length + 1);
      this.bytes[at] = 0x60 | value.length;
      for (let index = 0; index < value.length; index++) this.bytes[at + 1 + index] = value.charCodeAt(index);
      return;
    }
    const length = Buffer.byteLength(value, "utf8");
    this.head(3, length);
    const at = this.reserve(length);
    this.bytes.write(value, at, length, "utf8");
  }

  /** §4.2.1: the argument in the shortest of the immediate, 1-, 2-, 4- and 8-byte forms. */
  head(major: number, argument: number | bigint): void {
    const type = major << 5;
    if (typeof argument === "bigint" || argument > 0xffffffff) {
      this.byte(type | 27);
      this.uint64(BigInt(argument));
    } else if (argument < 24) {
      this.byte(type | argument);
    } else if (argument < 0x100) {
      this.byte(type | 24);
      this.byte(argument);
    } else if (argument < 0x10000) {
      this.byte(type | 25);
      this.uint16(argument);
    } else {
      this.byte(type | 26);
      this.uint32(argument);
    }
  }
}

const asciiPattern = /^[\x00-\x7f]*$/;

function isAscii(value: string): boolean {
  return asciiPattern.test(value);
}

/**
 * The §4.2.1 order of two text keys: a key's encoding starts with its UTF-8 length in a head that sorts by
 * that length, so shorter keys come first, then bytewise; for ASCII keys that is code-unit order.
 */
function asciiKeyOrder(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

const floatView = new DataView(new ArrayBuffer(4));

/** The binary16 bits of `value` when it is exactly representable in half precision (finite or infinite). */
function halfBits(value: number): number | undefined {
  if (Math.fround(value) !== value) return undefined;
  floatView.setFloat32(0, value);
  const bits = floatView.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127;
  const mantissa = bits & 0x7fffff;
  if (exponent === 128) return sign | 0x7c00;
  if (exponent >= -14 && exponent <= 15) {
    return (mantissa & 0x1fff) === 0 ? sign | ((exponent + 15) << 10) | (mantissa >>> 13) : undefined;
  }
  if (exponent < -24 || exponent > 15) return undefined;
  const shift = -1 - exponent;
  const significand = mantissa | 0x800000;
  return (significand & ((1 << shift) - 1)) === 0 ? sign | (significand >>> shift) : undefined;
}

function writeFloat(sink: ByteSink, value: number): void {
  const half = Number.isNaN(value) ? 0x7e00 : halfBits(value);
  if (half !== undefined) {
    sink.byte(0xf9);
    sink.uint16(half);
  } else if (Math.fround(value) === value) {
    sink.byte(0xfa);
    sink.float32(value);
  } else {
    sink.byte(0xfb);
    sink.float64(value);
  }
}

function writeNumber(sink: ByteSink, value: number): void {
  if (!Number.isSafeInteger(value)) writeFloat(sink, value);
  else if (value >= 0) sink.head(0, value);
  else sink.head(1, -1 - value);
}

function writeBigInt(sink: ByteSink, value: bigint): void {
  const argument = value >= 0n ? value : -1n - value;
  assert(argument <= uint64Max, "bigint beyond 64 bits has no deterministic CBOR integer form here");
  sink.head(value >= 0n ? 0 : 1, argument <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(argument) : argument);
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/** §4.2.1: entries sorted by the bytes of their encoded keys; two keys with one encoding are a bug. */
function writeMap(sink: ByteSink, entries: Array<[unknown, unknown]>, depth: number): void {
  const encoded = entries.map(([key, value]) => ({ key: encodeDeterministic(key, depth + 1), value }));
  encoded.sort((a, b) => Buffer.compare(a.key, b.key));
  sink.head(5, encoded.length);
  encoded.forEach((entry, index) => {
    const previous = encoded[index - 1];
    assert(previous === undefined || !previous.key.equals(entry.key), "map has two keys with the same encoding");
    sink.raw(entry.key);
    writeItem(sink, entry.value, depth + 1);
  });
}

/**
 * Key lists seen in §4.2.1 order, by the list as it came joined with U+0080, for ASCII lists only: a key with no
 * U+0080 in it splits one way, so a list of the same length joining to the same string is the same list. Messages
 * of one type have one key list, so checking each key and sorting ran for every object of every message.
 */
const sortedKeysByJoined = new Map<string, readonly string[]>();
/** Distinct key lists kept; past it the cache starts over (a peer sending many shapes costs only the sorting). */
export const sortedKeyListsMax = 256;
const keySeparator = "\u0080";

/** The keys in §4.2.1 order when all are ASCII; undefined when one is not. */
function asciiKeysInOrder(keys: string[]): readonly string[] | undefined {
  const joined = keys.join(keySeparator);
  const known = sortedKeysByJoined.get(joined);
  if (known !== undefined && known.length === keys.length) return known;
  if (!keys.every(isAscii)) return undefined;
  keys.sort(asciiKeyOrder);
  if (sortedKeysByJoined.size >= sortedKeyListsMax) sortedKeysByJoined.clear();
  sortedKeysByJoined.set(joined, keys);
  return keys;
}

/** Plain objects have text keys only, so when all are ASCII they sort without being encoded first. */
function writeRecord(sink: ByteSink, value: Record<string, unknown>, depth: number): void {
  const keys = asciiKeysInOrder(Object.keys(value));
  if (keys === undefined) return writeMap(sink, Object.entries(value), depth);
  sink.head(5, keys.length);
  for (const key of keys) {
    sink.text(key);
    writeItem(sink, value[key], depth + 1);
  }
}

function writeObject(sink: ByteSink, value: object, depth: number): void {
  if (value instanceof Uint8Array) {
    sink.head(2, value.length);
    sink.raw(value);
  } else if (Array.isArray(value)) {
    sink.head(4, value.length);
    for (const item of value as unknown[]) writeItem(sink, item, depth + 1);
  } else if (value instanceof Map) {
    writeMap(sink, [...(value as Map<unknown, unknown>).entries()], depth);
  } else if (value instanceof Tag) {
    assert(Number.isSafeInteger(value.tag) && value.tag >= 0, "a CBOR tag number is a non-negative integer");
    sink.head(6, value.tag);
    writeItem(sink, value.value, depth + 1);
  } else {
    assert(isPlainObject(value), `cannot encode a ${value.constructor?.name ?? "class instance"} as CBOR`);
    writeRecord(sink, value, depth);
  }
}

function writeItem(sink: ByteSink, value: unknown, depth: number): void {
  assert(depth <= cborNestingMax, `CBOR nesting deeper than ${cborNestingMax}`);
  switch (typeof value) {
    case "number":
      return writeNumber(sink, value);
    case "bigint":
      return writeBigInt(sink, value);
    case "string":
      return sink.text(value);
    case "boolean":
      return sink.byte(value ? 0xf5 : 0xf4);
    case "undefined":
      return sink.byte(0xf7);
    case "object":
      return value === null ? sink.byte(0xf6) : writeObject(sink, value, depth);
    default:
      assert(false, `cannot encode a ${typeof value} as CBOR`);
  }
}

function encodeDeterministic(value: unknown, depth: number): Buffer {
  const sink = new ByteSink();
  try {
    writeItem(sink, value, depth);
  } catch (error) {
    sink.finish();
    throw error;
  }
  return sink.finish();
}

export function encodeCbor(value: unknown): Buffer {
  return encodeDeterministic(value, 0);
}
