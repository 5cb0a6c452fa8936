import { Tag } from "cbor-x";
import { ErrorCode, TapwireError } from "./errors.ts";

/**
 * A strict CBOR decoder (RFC 8949) that accepts every well-formed encoding a peer's encoder may choose:
 * integers in any head length (shortest or not), half/single/double floats, definite and indefinite lengths
 * for strings, arrays and maps. It refuses, as MalformedCbor, what is not well-formed or could be read two
 * ways: truncation, trailing bytes, reserved heads, stray breaks, invalid UTF-8, duplicate map keys, simple
 * values other than false/true/null/undefined, and nesting deeper than `cborNestingMax`.
 *
 * Integers up to 2^53−1 in magnitude become numbers; larger ones become bigints, never rounded numbers, so a
 * schema that wants a number refuses them. Tags 2 and 3 (bignums, §3.4.3) are integers too; other tags
 * become cbor-x `Tag` values, uninterpreted. Byte strings are copied out as Buffers.
 */
export const cborNestingMax = 16;

/** `maps`: every map is a Map (COSE headers have integer labels). `objects`: text-keyed maps become objects. */
export type MapMode = "maps" | "objects";

const breakByte = 0xff;
const indefinite = 31;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** Short ASCII strings (keys, ids) are built directly: TextDecoder's call costs more than they do. */
const asciiFastLengthMax = 64;

function malformed(message: string): TapwireError {
  return new TapwireError(`malformed CBOR: ${message}`, ErrorCode.MalformedCbor);
}

function asInteger(value: bigint): number | bigint {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(-Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

class Reader {
  private position = 0;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly mapMode: MapMode,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  readWhole(): unknown {
    const value = this.item(0);
    if (this.position !== this.bytes.length) throw malformed(`${this.bytes.length - this.position} bytes after the item`);
    return value;
  }

  private need(count: number): void {
    if (count > this.bytes.length - this.position) throw malformed("truncated");
  }

  private peek(): number {
    this.need(1);
    return this.bytes[this.position] as number;
  }

  /** The head's argument; 8-byte arguments above 2^53−1 stay bigint. */
  private argument(info: number): number | bigint {
    if (info < 24) return info;
    const widthBytes = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (widthBytes === 0) throw malformed(`reserved additional information ${info}`);
    this.need(widthBytes);
    const at = this.position;
    this.position += widthBytes;
    if (widthBytes === 1) return this.view.getUint8(at);
    if (widthBytes === 2) return this.view.getUint16(at);
    if (widthBytes === 4) return this.view.getUint32(at);
    return asInteger(this.view.getBigUint64(at));
  }

  private length(info: number): number {
    const length = this.argument(info);
    if (typeof length === "bigint" || length > this.bytes.length - this.position) throw malformed("length beyond the input");
    return length;
  }

  private item(depth: number): unknown {
    if (depth > cborNestingMax) throw malformed(`nested deeper than ${cborNestingMax}`);
    const initial = this.peek();
    this.position += 1;
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (info === indefinite && (major < 2 || major === 6)) throw malformed(`major type ${major} cannot be indefinite`);
    switch (major) {
      case 0:
        return this.argument(info);
      case 1:
        return this.negative(info);
      case 2:
        return info === indefinite ? Buffer.concat(this.chunks(2)) : this.byteString(info);
      case 3:
        return info === indefinite ? this.chunks(3).map((chunk) => this.text(chunk)).join("") : this.text(this.span(info));
      case 4:
        return info === indefinite ? this.indefiniteArray(depth) : this.definiteArray(info, depth);
      case 5:
        return this.map(info, depth);
      case 6:
        return this.tagged(info, depth);
      default:
        return this.simpleOrFloat(info);
    }
  }

  private negative(info: number): number | bigint {
    const argument = this.argument(info);
    return typeof argument === "number" && argument < Number.MAX_SAFE_INTEGER ? -1 - argument : asInteger(-1n - BigInt(argument));
  }

  /** A view of the string's bytes in the input; byte strings are then copied, text strings decoded. */
  private span(info: number): Uint8Array {
    const length = this.length(info);
    const start = this.position;
    this.position += length;
    return this.bytes.subarray(start, this.position);
  }

  private byteString(info: number): Buffer {
    return Buffer.from(this.span(info));
  }

  private text(bytes: Uint8Array): string {
    if (bytes.length <= asciiFastLengthMax) {
      let ascii = "";
      for (let index = 0; index < bytes.length; index++) {
        const byte = bytes[index] as number;
        if (byte >= 0x80) return this.utf8Text(bytes);
        ascii += String.fromCharCode(byte);
      }
      return ascii;
    }
    return this.utf8Text(bytes);
  }

  private utf8Text(bytes: Uint8Array): string {
    try {
      return utf8.decode(bytes);
    } catch {
      throw malformed("text string is not valid UTF-8");
    }
  }

  /** §3.2.3: the chunks of an indefinite string are definite strings of the same major type. */
  private chunks(major: number): Buffer[] {
    const chunks: Buffer[] = [];
    for (let count = 0; count < this.bytes.length; count++) {
      const initial = this.peek();
      if (initial === breakByte) {
        this.position += 1;
        return chunks;
      }
      if (initial >> 5 !== major || (initial & 0x1f) === indefinite) throw malformed("bad chunk in an indefinite-length string");
      this.position += 1;
      chunks.push(this.byteString(initial & 0x1f));
    }
    throw malformed("indefinite-length string without a break");
  }

  private definiteArray(info: number, depth: number): unknown[] {
    const length = this.length(info);
    const items: unknown[] = [];
    for (let index = 0; index < length; index++) items.push(this.item(depth + 1));
    return items;
  }

  private indefiniteArray(depth: number): unknown[] {
    const items: unknown[] = [];
    for (let count = 0; count < this.bytes.length; count++) {
      if (this.atBreak()) return items;
      items.push(this.item(depth + 1));
    }
    throw malformed("indefinite-length array without a break");
  }

  private atBreak(): boolean {
    if (this.peek() !== breakByte) return false;
    this.position += 1;
    return true;
  }

  private map(info: number, depth: number): Map<unknown, unknown> | Record<string, unknown> {
    const entries = new MapBuilder(this.mapMode);
    if (info !== indefinite) {
      const length = this.length(info);
      for (let index = 0; index < length; index++) entries.add(this.item(depth + 1), this.item(depth + 1));
      return entries.result;
    }
    for (let count = 0; count < this.bytes.length; count++) {
      if (this.atBreak()) return entries.result;
      entries.add(this.item(depth + 1), this.item(depth + 1));
    }
    throw malformed("indefinite-length map without a break");
  }

  private tagged(info: number, depth: number): unknown {
    const tagNumber = this.argument(info);
    if (typeof tagNumber === "bigint") throw malformed("tag number above 2^53−1");
    const content = this.item(depth + 1);
    if (tagNumber !== 2 && tagNumber !== 3) return new Tag(content, tagNumber);
    if (!(content instanceof Uint8Array)) throw malformed("a bignum's content must be a byte string");
    const magnitude = content.length === 0 ? 0n : BigInt(`0x${Buffer.from(content).toString("hex")}`);
    return asInteger(tagNumber === 2 ? magnitude : -1n - magnitude);
  }

  private simpleOrFloat(info: number): unknown {
    switch (info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 24:
        throw malformed(`simple value ${this.argument(info)} is not used by tapwire`);
      case 25:
        return halfToNumber(this.argument(info) as number);
      case 26:
        this.need(4);
        this.position += 4;
        return this.view.getFloat32(this.position - 4);
      case 27:
        this.need(8);
        this.position += 8;
        return this.view.getFloat64(this.position - 8);
      case indefinite:
        throw malformed("break outside an indefinite-length item");
      default:
        throw malformed(info < 20 ? `simple value ${info} is not used by tapwire` : `reserved additional information ${info}`);
    }
  }
}

/**
 * Collects one map's entries, refusing duplicate keys (a map with them is not valid CBOR data). Keys compare by
 * value, whatever their encoding (1 and 0x1801 are one key); byte-string or array keys, which no tapwire
 * structure uses, compare by identity.
 */
class MapBuilder {
  readonly result: Map<unknown, unknown> | Record<string, unknown>;

  constructor(mode: MapMode) {
    this.result = mode === "maps" ? new Map<unknown, unknown>() : {};
  }

  add(key: unknown, value: unknown): void {
    const result = this.result;
    if (result instanceof Map) {
      if (result.has(key)) throw malformed(`duplicate map key ${String(key)}`);
      result.set(key, value);
      return;
    }
    if (typeof key !== "string") throw malformed("message body maps are keyed by text strings");
    if (Object.hasOwn(result, key)) throw malformed(`duplicate map key ${key}`);
    if (key === "__proto__") Object.defineProperty(result, key, { value, enumerable: true, writable: true, configurable: true });
    else result[key] = value;
  }
}

export function decodeCbor(bytes: Uint8Array, mapMode: MapMode): unknown {
  return new Reader(bytes, mapMode).readWhole();
}
