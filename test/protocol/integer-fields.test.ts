import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { encodeBody, structCodec } from "../../protocol/cbor.ts";
import { signSign1 } from "../../protocol/cose.ts";
import { openSealed } from "../../protocol/envelope.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { paymentRequestSchema } from "../../protocol/messages.ts";

/**
 * Bodies as other encoders write them: each field's value is given as raw CBOR hex, so a test can pick the
 * encoding (head width, float width, indefinite length) of exactly the fields it is about.
 */
const fields: Record<string, string> = {
  type: encodeBody("payment_request").toString("hex"),
  v: "01",
  hubId: encodeBody("h1").toString("hex"),
  merchantId: encodeBody("m1").toString("hex"),
  requestId: encodeBody("r-1").toString("hex"),
  seq: "01",
  iat: "1b 0000018bcfe56800",
  exp: "1b 0000018bcfe65260",
  amountMinor: "19 04e2",
  currency: encodeBody("EUR").toString("hex"),
  mode: encodeBody("reader").toString("hex"),
  payer: encodeBody({ kind: "hce", walletId: "w1", atc: 1, unpredictableNumber: Buffer.alloc(4, 7), cryptogram: Buffer.alloc(64) }).toString("hex"),
};

function body(overrides: Record<string, string> = {}): Buffer {
  const entries = Object.entries({ ...fields, ...overrides });
  const pieces = entries.map(([key, value]) => structCodec.encode(key).toString("hex") + value.replace(/\s+/g, ""));
  return Buffer.from(`bf${pieces.join("")}ff`, "hex");
}

const hub = generateP256();
const open = (payload: Buffer) => openSealed(signSign1(payload, hub.privateKey), hub.publicKey, paymentRequestSchema);
const schemaInvalid = expect.objectContaining({ code: ErrorCode.SchemaInvalid });

describe("integer fields in any valid encoding", () => {
  it("accepts millisecond times written as 8-byte CBOR integers (the E104 'received bigint' report)", () => {
    const opened = open(body());
    expect(opened.body.iat).toBe(1_700_000_000_000);
    expect(opened.body.exp).toBe(1_700_000_060_000);
  });

  it.each([
    ["1-byte head", { seq: "18 02" }, "seq", 2],
    ["2-byte head", { seq: "19 0002" }, "seq", 2],
    ["4-byte head", { seq: "1a 00000002" }, "seq", 2],
    ["8-byte head", { seq: "1b 0000000000000002" }, "seq", 2],
    ["bignum tag", { amountMinor: "c2 42 04e2" }, "amountMinor", 1250],
    ["float64 (tapwire's own encoding before)", { iat: "fb 4278bcfe56800000" }, "iat", 1_700_000_000_000],
    ["integral float32", { amountMinor: "fa 4b800000" }, "amountMinor", 16_777_216],
    ["integral float16", { seq: "f9 4000" }, "seq", 2],
  ])("takes a %s integer", (_encoding, overrides, field, expected) => {
    expect((open(body(overrides)).body as Record<string, unknown>)[field]).toBe(expected);
  });

  it("takes indefinite-length text, bytes and maps in nested fields", () => {
    const payer = "bf 64 6b696e64 63 686365 68 77616c6c65744964 7f 61 77 61 31 ff 63 617463 01" +
      " 73 756e7072656469637461626c654e756d626572 5f 42 0707 42 0707 ff 6a 63727970746f6772616d 58 40" +
      "00".repeat(64) + " ff";
    const opened = open(body({ currency: "7f 62 4555 61 52 ff", payer }));
    expect(opened.body.currency).toBe("EUR");
    expect(opened.body.payer).toMatchObject({ walletId: "w1", unpredictableNumber: Buffer.alloc(4, 7) });
  });

  it("hashes the payload as received, not a re-encoding of what it decoded to", () => {
    const payload = body({ seq: "1b 0000000000000001" });
    expect(Buffer.from(open(payload).hash)).toEqual(createHash("sha256").update(payload).digest());
  });
});

describe("integer fields outside the safe-integer range or not integers", () => {
  it.each([
    ["a uint64 just above 2^53−1", { exp: "1b 0020000000000000" }],
    ["the largest uint64", { iat: "1b ffffffffffffffff" }],
    ["a bignum above 2^53−1", { amountMinor: "c2 49 010000000000000000" }],
    ["an integral float64 above 2^53−1", { iat: "fb 43b0000000000000" }],
    ["a non-integral float", { iat: "fb 4278bcfe56800800" }],
    ["NaN", { seq: "f9 7e00" }],
    ["a negative time", { iat: "20" }],
    ["an integer as text", { seq: "61 31" }],
  ])("refuses %s as SchemaInvalid, never rounding it", (_what, overrides) => {
    expect(() => open(body(overrides))).toThrow(schemaInvalid);
  });
});
