import { Tag } from "cbor-x";
import { describe, expect, it } from "vitest";
import { decodeCbor } from "../../protocol/cbor-decode.ts";
import { decodeBody } from "../../protocol/cbor.ts";
import { ErrorCode } from "../../protocol/errors.ts";

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ""), "hex");
const asMap = (text: string) => decodeCbor(hex(text), "maps");
const asBody = (text: string) => decodeBody(hex(text));
const malformedCbor = expect.objectContaining({ code: ErrorCode.MalformedCbor });

describe("CBOR decoding accepts every well-formed encoding of a value", () => {
  it.each([
    ["0a", 10],
    ["18 0a", 10],
    ["19 000a", 10],
    ["1a 0000000a", 10],
    ["1b 000000000000000a", 10],
    ["1b 0000018bcfe56800", 1_700_000_000_000],
    ["1b 001fffffffffffff", Number.MAX_SAFE_INTEGER],
    ["29", -10],
    ["38 09", -10],
    ["39 0009", -10],
    ["3a 00000009", -10],
    ["3b 0000000000000009", -10],
    ["3b 001ffffffffffffe", -Number.MAX_SAFE_INTEGER],
    ["c2 41 0a", 10],
    ["c2 43 00000a", 10],
    ["c3 41 09", -10],
    ["c2 40", 0],
  ])("integer %s is the number %d", (encoded, value) => {
    expect(asMap(encoded)).toBe(value);
  });

  it("keeps integers beyond ±(2^53−1) exact as bigints instead of rounding them", () => {
    expect(asMap("1b 0020000000000000")).toBe(2n ** 53n);
    expect(asMap("1b ffffffffffffffff")).toBe(2n ** 64n - 1n);
    expect(asMap("3b 001fffffffffffff")).toBe(-(2n ** 53n));
    expect(asMap("3b ffffffffffffffff")).toBe(-(2n ** 64n));
    expect(asMap("c2 49 010000000000000000")).toBe(2n ** 64n);
  });

  it.each([
    ["f9 4a00", 12],
    ["fa 41400000", 12],
    ["fb 4028000000000000", 12],
    ["f9 3e00", 1.5],
    ["f9 0001", 2 ** -24],
    ["f9 7bff", 65504],
    ["f9 7c00", Infinity],
    ["f9 fc00", -Infinity],
    ["fb 3fb999999999999a", 0.1],
  ])("float %s is %d", (encoded, value) => {
    expect(asMap(encoded)).toBe(value);
  });

  it("reads NaN in any width and simple values false/true/null/undefined", () => {
    expect(asMap("f9 7e00")).toBeNaN();
    expect(asMap("fb 7ff8000000000000")).toBeNaN();
    expect([asMap("f4"), asMap("f5"), asMap("f6"), asMap("f7")]).toEqual([false, true, null, undefined]);
  });

  it("joins definite and indefinite text and byte strings, with short or long length heads", () => {
    expect(asMap("63 616263")).toBe("abc");
    expect(asMap("78 03 616263")).toBe("abc");
    expect(asMap("7f 62 6162 61 63 ff")).toBe("abc");
    expect(asMap("7f ff")).toBe("");
    expect(asMap("7f 62 c3a9 ff")).toBe("é");
    expect(asMap("43 010203")).toEqual(Buffer.from([1, 2, 3]));
    expect(asMap("5a 00000003 010203")).toEqual(Buffer.from([1, 2, 3]));
    expect(asMap("5f 42 0102 41 03 ff")).toEqual(Buffer.from([1, 2, 3]));
    expect(asMap("5f ff")).toEqual(Buffer.alloc(0));
  });

  it("reads definite and indefinite arrays and maps", () => {
    expect(asMap("82 01 02")).toEqual([1, 2]);
    expect(asMap("98 02 01 02")).toEqual([1, 2]);
    expect(asMap("9f 01 9f 02 ff ff")).toEqual([1, [2]]);
    expect(asMap("a2 01 26 04 41 aa")).toEqual(new Map<unknown, unknown>([[1, -7], [4, Buffer.from([0xaa])]]));
    expect(asMap("bf 01 26 ff")).toEqual(new Map([[1, -7]]));
    expect(asBody("bf 61 61 01 61 62 bf 61 63 9f ff ff ff")).toEqual({ a: 1, b: { c: [] } });
    expect(asBody("b9 0001 61 61 01")).toEqual({ a: 1 });
  });

  it("hands back tags other than bignums uninterpreted, and byte strings as copies", () => {
    const input = hex("c1 1a 6553f100");
    expect(decodeCbor(input, "maps")).toEqual(new Tag(1_700_000_000, 1));
    const bytes = hex("42 0102");
    const decoded = decodeCbor(bytes, "maps") as Buffer;
    bytes[1] = 0xff;
    expect(decoded).toEqual(Buffer.from([1, 2]));
  });

  it("makes a __proto__ key an own property, never the object's prototype", () => {
    const body = asBody("a1 69 5f5f70726f746f5f5f a1 61 78 01") as Record<string, unknown>;
    expect(Object.getPrototypeOf(body)).toBe(Object.prototype);
    expect(Object.keys(body)).toEqual(["__proto__"]);
    expect((body as { x?: unknown }).x).toBeUndefined();
  });
});

describe("CBOR decoding refuses what is not one well-formed, unambiguous item", () => {
  it.each([
    ["empty input", ""],
    ["a truncated integer", "1b 0000"],
    ["a truncated string", "63 6162"],
    ["bytes after the item", "01 01"],
    ["reserved additional information", "1c"],
    ["a reserved float head", "fc"],
    ["a break outside an indefinite item", "ff"],
    ["an indefinite integer", "1f"],
    ["an indefinite tag", "df 01"],
    ["a text chunk inside indefinite bytes", "5f 61 61 ff"],
    ["a nested indefinite chunk", "5f 5f ff ff"],
    ["an indefinite array without a break", "9f 01"],
    ["an indefinite string without a break", "7f 61 61"],
    ["invalid UTF-8", "62 c328"],
    ["a UTF-8 sequence split across chunks", "7f 61 c3 61 a9 ff"],
    ["an array longer than the input", "9a ffffffff 00"],
    ["a length with an 8-byte head beyond the input", "5b 0000000100000000"],
    ["a two-byte simple value below 32", "f8 10"],
    ["an unassigned simple value", "e0"],
    ["a two-byte unassigned simple value", "f8 20"],
    ["a bignum whose content is not a byte string", "c2 01"],
  ])("refuses %s", (_what, encoded) => {
    expect(() => asMap(encoded)).toThrow(malformedCbor);
  });

  it("refuses duplicate map keys, in either map mode", () => {
    expect(() => asMap("a2 01 26 01 27")).toThrow(malformedCbor);
    expect(() => asMap("a2 01 26 18 01 27")).toThrow(malformedCbor);
    expect(() => asBody("a2 61 61 01 61 61 02")).toThrow(malformedCbor);
    expect(() => asBody("bf 61 61 01 7f 61 61 ff 02 ff")).toThrow(malformedCbor);
  });

  it("refuses non-text keys in a message body", () => {
    expect(() => asBody("a1 01 02")).toThrow(malformedCbor);
    expect(asMap("a1 01 02")).toEqual(new Map([[1, 2]]));
  });

  it("refuses nesting beyond its limit, and reads it up to the limit", () => {
    expect(asMap(`${"81".repeat(16)}00`)).toBeDefined();
    expect(() => asMap(`${"81".repeat(17)}00`)).toThrow(malformedCbor);
    expect(() => asMap(`${"9f".repeat(17)}00`)).toThrow(malformedCbor);
  });
});
