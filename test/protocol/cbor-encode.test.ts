import { Tag } from "cbor-x";
import { describe, expect, it } from "vitest";
import { AssertionError } from "../../core/assert.ts";
import { bodyCodec, encodeBody, structCodec } from "../../protocol/cbor.ts";
import { sortedKeyListsMax } from "../../protocol/cbor-encode.ts";
import { decodeSign1, sign1ToBeSigned } from "../../protocol/cose.ts";
import { sealMessage } from "../../protocol/envelope.ts";
import { generateP256, keyId } from "../../protocol/keys.ts";
import { decisionSchema, parseBody, reversalRequestSchema } from "../../protocol/messages.ts";

const hex = (text: string) => text.replace(/\s+/g, "");
const encodedHex = (value: unknown) => structCodec.encode(value).toString("hex");

describe("deterministic CBOR encoding (RFC 8949 §4.2.1)", () => {
  it.each([
    [0, "00"],
    [23, "17"],
    [24, "1818"],
    [255, "18ff"],
    [256, "190100"],
    [65_535, "19ffff"],
    [65_536, "1a00010000"],
    [2 ** 32 - 1, "1affffffff"],
    [2 ** 32, "1b0000000100000000"],
    [1_700_000_000_000, "1b0000018bcfe56800"],
    [Number.MAX_SAFE_INTEGER, "1b001fffffffffffff"],
    [-1, "20"],
    [-24, "37"],
    [-25, "3818"],
    [-(2 ** 32), "3affffffff"],
    [-(2 ** 32) - 1, "3b0000000100000000"],
    [-0, "00"],
  ])("writes the integer %d in its shortest form %s", (value, expected) => {
    expect(encodedHex(value)).toBe(expected);
  });

  it("writes 64-bit bigints as integers too", () => {
    expect(encodedHex(2n ** 64n - 1n)).toBe("1bffffffffffffffff");
    expect(encodedHex(-(2n ** 64n))).toBe("3bffffffffffffffff");
    expect(encodedHex(10n)).toBe("0a");
  });

  it.each([
    [1.5, "f93e00"],
    [65_504.5, "fa477fe080"],
    [0.1, "fb3fb999999999999a"],
    [2 ** -24, "f90001"],
    [-(2 ** -14), "f98400"],
    [2 ** 53, "fa5a000000"],
    [Infinity, "f97c00"],
    [-Infinity, "f9fc00"],
    [NaN, "f97e00"],
  ])("writes the non-integer %d as the shortest float %s", (value, expected) => {
    expect(encodedHex(value)).toBe(expected);
  });

  it("writes definite lengths with the shortest heads", () => {
    expect(encodedHex("a".repeat(23))).toBe(`77${"61".repeat(23)}`);
    expect(encodedHex("a".repeat(24))).toBe(`7818${"61".repeat(24)}`);
    expect(encodedHex(new Uint8Array(256))).toBe(`590100${"00".repeat(256)}`);
    expect(encodedHex(new Array(24).fill(1))).toBe(`9818${"01".repeat(24)}`);
  });

  it("sorts map keys by the bytes of their encodings, whatever order they were inserted in", () => {
    expect(encodedHex({ b: 1, aa: 3, a: 2 })).toBe(hex("a3 6161 02 6162 01 626161 03"));
    expect(encodedHex({ "é": 1, z: 2 })).toBe(hex("a2 617a 02 62c3a9 01"));
    const labels = new Map<unknown, unknown>([["a", 4], [-1, 3], [10, 2], [1, 1]]);
    expect(encodedHex(labels)).toBe(hex("a4 01 01 0a 02 20 03 6161 04"));
  });

  it("orders each key list on its own, whatever lists came before (the sorted lists are kept)", () => {
    // Joined with U+0080 these four lists are alike ("a\u0080b\u0080c"); only the ASCII one may be kept and reused.
    expect(encodedHex({ c: 3, a: 1, b: 2 })).toBe(hex("a3 6161 01 6162 02 6163 03"));
    expect(encodedHex({ "a\u0080b": 1, c: 2 })).toBe(hex("a2 6163 02 64 61c28062 01"));
    expect(encodedHex({ a: 1, "b\u0080c": 2 })).toBe(hex("a2 6161 01 64 62c28063 02"));
    expect(encodedHex({ "a\u0080b\u0080c": 1 })).toBe(hex("a1 67 61c28062c28063 01"));
    expect(encodedHex({ c: 3, a: 1, b: 2 })).toBe(hex("a3 6161 01 6162 02 6163 03"));
    // Past sortedKeyListsMax distinct lists the kept ones start over, and every list still comes out in order.
    for (let index = 0; index <= sortedKeyListsMax; index += 1) {
      expect(encodedHex({ [`k${index}`]: 1, a: 0 })).toBe(structCodec.encode(new Map<unknown, unknown>([[`k${index}`, 1], ["a", 0]])).toString("hex"));
    }
    expect(encodedHex({ b: 2, a: 1 })).toBe(hex("a2 6161 01 6162 02"));
  });

  it("refuses values that have no place in a message, as a programmer error", () => {
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    for (const value of [new Date(0), new Set([1]), () => 1, Symbol("s"), cyclic, 2n ** 64n, new Uint16Array(1)]) {
      expect(() => structCodec.encode(value)).toThrow(AssertionError);
    }
  });

  it("gives each encode bytes of its own, through nested, oversized and refused encodes", () => {
    const first = structCodec.encode({ a: new Uint8Array(40).fill(1) });
    const nested = structCodec.encode(new Map<unknown, unknown>([[new Map([[1, 2]]), "v"], ["k", [1, 2, 3]]]));
    const oversized = structCodec.encode(new Uint8Array(10_000).fill(7));
    expect(() => structCodec.encode([1, () => 1])).toThrow(AssertionError);
    const after = structCodec.encode({ b: 2 });

    expect(first.toString("hex")).toBe(`a1 6161 5828 ${"01".repeat(40)}`.replace(/\s+/g, ""));
    expect(nested.toString("hex")).toBe(hex("a2 616b 83010203 a10102 6176"));
    expect(oversized.length).toBe(3 + 10_000);
    expect(oversized.subarray(3).every((byte) => byte === 7)).toBe(true);
    expect(after.toString("hex")).toBe(hex("a1 6162 02"));
  });
});

describe("message bodies and COSE structures, byte for byte", () => {
  it("writes a reversal request as hand-encoded: sorted keys, integer times", () => {
    const body = {
      type: "reversal",
      v: 1,
      hubId: "h1",
      merchantId: "m1",
      requestId: "r-1",
      seq: 7,
      iat: 1_700_000_000_000,
      exp: 1_700_000_060_000,
      paymentRequestId: "r-0",
      reason: "cancelled",
    };
    const expected = hex(`
      aa
      61 76                                   01
      63 657870                               1b 0000018bcfe65260
      63 696174                               1b 0000018bcfe56800
      63 736571                               07
      64 74797065                             68 726576657273616c
      65 6875624964                           62 6831
      66 726561736f6e                         69 63616e63656c6c6564
      69 726571756573744964                   63 722d31
      6a 6d65726368616e744964                 62 6d31
      70 7061796d656e74526571756573744964     63 722d30`);
    const bytes = encodeBody(parseBody(reversalRequestSchema, body));
    expect(bytes.toString("hex")).toBe(expected);
    expect(parseBody(reversalRequestSchema, bodyCodec.decode(bytes))).toEqual(body);
  });

  it("writes a decision with a receipt and a hash as hand-encoded", () => {
    const decision = {
      type: "decision",
      v: 1,
      requestId: "r-1",
      requestType: "payment_request",
      requestHash: Buffer.alloc(32, 0x11),
      principalKind: "hub",
      hubId: "h1",
      status: "approved",
      code: 0,
      reason: "",
      iat: 1_700_000_000_500,
      exp: 1_700_000_060_500,
      receipt: {
        paymentId: "p-1",
        merchantId: "m1",
        amountMinor: 1250,
        currency: "EUR",
        payerMasked: "w…42",
        postedAtMs: 1_700_000_000_400,
      },
    };
    const expected = hex(`
      ad
      61 76                                   01
      63 657870                               1b 0000018bcfe65454
      63 696174                               1b 0000018bcfe569f4
      64 636f6465                             00
      64 74797065                             68 6465636973696f6e
      65 6875624964                           62 6831
      66 726561736f6e                         60
      66 737461747573                         68 617070726f766564
      67 72656365697074                       a6
        68 63757272656e6379                     63 455552
        69 7061796d656e744964                   63 702d31
        6a 6d65726368616e744964                 62 6d31
        6a 706f7374656441744d73                 1b 0000018bcfe56990
        6b 616d6f756e744d696e6f72               19 04e2
        6b 70617965724d61736b6564               66 77e280a63432
      69 726571756573744964                   63 722d31
      6b 7265717565737448617368               58 20 ${"11".repeat(32)}
      6b 7265717565737454797065               6f 7061796d656e745f72657175657374
      6d 7072696e636970616c4b696e64           63 687562`);
    const bytes = encodeBody(parseBody(decisionSchema, decision));
    expect(bytes.toString("hex")).toBe(expected);
    expect(parseBody(decisionSchema, bodyCodec.decode(bytes))).toEqual(decision);
  });

  it("frames COSE_Sign1 and its Sig_structure deterministically", () => {
    const signer = generateP256();
    const kid = keyId(signer.publicKey);
    const payload = encodeBody({ v: 1 });
    const sealed = sealMessage({ v: 1 }, signer.privateKey, kid);
    const signature = sealed.subarray(sealed.length - 64).toString("hex");
    const kidHex = Buffer.from(kid).toString("hex");
    expect(sealed.toString("hex")).toBe(hex(`d2 84 43 a10126 a1 04 48 ${kidHex} 44 a1617601 58 40 ${signature}`));
    expect(sign1ToBeSigned(decodeSign1(sealed)).toString("hex")).toBe(
      hex(`84 6a 5369676e617475726531 43 a10126 40 44 ${payload.toString("hex")}`),
    );
  });
});

/** A seeded generator of message-shaped values, so a failure names the seed that reproduces it. */
function seededValues(seed: number, count: number): unknown[] {
  let state = seed;
  const next = (limit: number) => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state % limit;
  };
  const leaf = (): unknown =>
    [
      () => next(2 ** 31) * 2 ** next(23),
      () => -next(2 ** 31) - 1,
      () => next(1000) / 8,
      () => "k".repeat(next(30)) + String.fromCodePoint(0x20 + next(0x3000)),
      () => Buffer.alloc(next(40), next(256)),
      () => [true, false, null][next(3)],
    ][next(6)]!();
  const value = (depth: number): unknown => {
    if (depth > 3 || next(3) === 0) return leaf();
    const size = next(6);
    if (next(2) === 0) return Array.from({ length: size }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: size }, () => [`f${next(50)}`, value(depth + 1)]));
  };
  return Array.from({ length: count }, () => value(0));
}

describe("decode then encode gives back a deterministic input byte for byte", () => {
  it.each([
    "00",
    "1b0000018bcfe56800",
    "3b0000000100000000",
    "f93e00",
    "fa477fe080",
    "fb3fb999999999999a",
    "f97e00",
    "f4",
    "f6",
    "f7",
    "60",
    "62c3a9",
    "40",
    "83010203",
    "a0",
    "a361610261620162616103",
    "a401010a022003616104",
    "d28443a10126a10442abcd41014100",
    "c11a6553f100",
  ])("%s", (encoded) => {
    const bytes = Buffer.from(encoded, "hex");
    expect(structCodec.encode(structCodec.decode(bytes)).toString("hex")).toBe(encoded);
  });

  it("holds for 300 seeded message-shaped values, in both map modes", () => {
    for (const value of seededValues(20_240_501, 300)) {
      const bytes = bodyCodec.encode(value);
      expect(bodyCodec.encode(bodyCodec.decode(bytes)).equals(bytes)).toBe(true);
      expect(structCodec.encode(structCodec.decode(bytes)).equals(bytes)).toBe(true);
      expect(bodyCodec.decode(bytes)).toEqual(value);
    }
  });

  it("rewrites a non-deterministic input in the one deterministic form", () => {
    const loose = Buffer.from("bf 6162 1801 6161 5f 4101 4102 ff 6163 fb4028000000000000 ff".replace(/\s+/g, ""), "hex");
    expect(bodyCodec.encode(bodyCodec.decode(loose)).toString("hex")).toBe(hex("a3 6161 420102 6162 01 6163 0c"));
  });

  it("keeps tags and their content", () => {
    expect(encodedHex(new Tag(new Uint8Array([1]), 18))).toBe("d24101");
  });
});
