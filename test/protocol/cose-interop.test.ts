import { createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import cbor from "cbor";
import cose from "cose-js";
import { describe, expect, it } from "vitest";
import { encodeBody } from "../../protocol/cbor.ts";
import { decodeSign1, openSign1, sign1Kid, verifySign1 } from "../../protocol/cose.ts";
import { openSealed, sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256, keyId } from "../../protocol/keys.ts";
import { decisionSchema, paymentRequestSchema } from "../../protocol/messages.ts";

/**
 * Interop with an independent COSE implementation: cose-js signs with `elliptic` (not Node's OpenSSL) and
 * encodes with `cbor` (node-cbor), so neither tapwire's crypto calls nor its CBOR code are on the other side.
 */
function coseKeys(privateKey: KeyObject) {
  const jwk = privateKey.export({ format: "jwk" });
  const bytes = (base64url: string | undefined) => Buffer.from(base64url ?? "", "base64url");
  return { signer: { key: { d: bytes(jwk.d) } }, verifier: { key: { x: bytes(jwk.x), y: bytes(jwk.y) } } };
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest();

const paymentRequest = {
  type: "payment_request",
  v: 1,
  hubId: "h1",
  merchantId: "m1",
  requestId: "r-1",
  seq: 3,
  iat: 1_700_000_000_000,
  exp: 1_700_000_060_000,
  amountMinor: 1250,
  currency: "EUR",
  mode: "reader",
  payer: { kind: "hce", walletId: "w1", atc: 9, unpredictableNumber: Buffer.alloc(4, 7), cryptogram: Buffer.alloc(64, 1) },
};

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
};

describe("messages signed by cose-js, opened by tapwire", () => {
  const hub = generateP256();
  const { signer } = coseKeys(hub.privateKey);

  it("verifies an ES256 message whose body node-cbor wrote with integer times, and decodes it against the schema", async () => {
    const payload = cbor.encode(paymentRequest);
    expect(payload.includes(Buffer.from("1b0000018bcfe56800", "hex"))).toBe(true);
    const message = await cose.sign.create({ p: { alg: "ES256" }, u: { kid: "hub-1" } }, payload, signer);

    const opened = openSealed(message, hub.publicKey, paymentRequestSchema);

    expect(opened.body).toEqual(paymentRequest);
    expect(Buffer.from(sign1Kid(decodeSign1(message)) ?? [])).toEqual(Buffer.from("hub-1"));
    expect(Buffer.from(opened.hash)).toEqual(sha256(payload));
    expect(Buffer.from(opened.hash)).not.toEqual(sha256(encodeBody(paymentRequest)));
  });

  it("verifies an untagged message bound to external data", async () => {
    const payload = Buffer.from("pay 1250 EUR");
    const externalAAD = Buffer.from("topic hubs/h1/requests");
    const message = await cose.sign.create({ p: { alg: "ES256" } }, payload, { ...signer, externalAAD }, { excludetag: true });

    expect(openSign1(message, hub.publicKey, externalAAD)).toEqual(payload);
    expect(() => openSign1(message, hub.publicKey)).toThrow(expect.objectContaining({ code: ErrorCode.BadSignature }));
  });

  it("refuses a cose-js message with a changed signature, or signed by another key", async () => {
    const message = await cose.sign.create({ p: { alg: "ES256" } }, cbor.encode(paymentRequest), signer);
    const tampered = Buffer.from(message);
    tampered[tampered.length - 1] = (tampered.at(-1) ?? 0) ^ 1;

    expect(() => openSealed(tampered, hub.publicKey, paymentRequestSchema)).toThrow(expect.objectContaining({ code: ErrorCode.BadSignature }));
    expect(() => openSealed(message, generateP256().publicKey, paymentRequestSchema)).toThrow(
      expect.objectContaining({ code: ErrorCode.BadSignature }),
    );
  });

  it("refuses an ES384 (P-384) message from cose-js as UnsupportedAlgorithm", async () => {
    const p384 = generateKeyPairSync("ec", { namedCurve: "secp384r1" });
    const message = await cose.sign.create({ p: { alg: "ES384" } }, cbor.encode(paymentRequest), coseKeys(p384.privateKey).signer);

    expect(() => verifySign1(decodeSign1(message), hub.publicKey)).toThrow(expect.objectContaining({ code: ErrorCode.UnsupportedAlgorithm }));
  });
});

describe("messages sealed by tapwire, opened by cose-js", () => {
  const service = generateP256();
  const { verifier } = coseKeys(service.privateKey);

  it.each([
    ["payment request", paymentRequest],
    ["decision", decision],
  ])("a %s verifies, and node-cbor reads its times as integers", async (_name, body) => {
    const sealed = sealMessage(body, service.privateKey, keyId(service.publicKey));

    const payload = await cose.sign.verify(sealed, verifier);

    const decoded = cbor.decodeFirstSync(payload) as Record<string, unknown>;
    expect(decoded).toEqual(body);
    expect(Number.isSafeInteger(decoded["iat"])).toBe(true);
    expect(openSealed(sealed, service.publicKey, decisionSchema.or(paymentRequestSchema)).body).toEqual(body);
  });

  it("writes the same bytes as node-cbor's canonical encoder for the same body", () => {
    for (const body of [paymentRequest, decision]) {
      expect(encodeBody(body)).toEqual(cbor.encodeCanonical(body));
    }
  });
});
