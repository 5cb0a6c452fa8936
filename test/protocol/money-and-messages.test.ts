import { describe, expect, it } from "vitest";
import { decodeBody, encodeBody } from "../../protocol/cbor.ts";
import { openSealed, sealMessage, messageBytesMax } from "../../protocol/envelope.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { hubRequestSchema, parseBody, paymentRequestSchema, type PaymentRequest } from "../../protocol/messages.ts";
import { assertMoney, formatMoney } from "../../protocol/money.ts";
import { signCryptogram, verifyCryptogram } from "../../protocol/payer.ts";

function request(overrides: Partial<PaymentRequest> = {}): PaymentRequest {
  return {
    type: "payment_request",
    v: 1,
    hubId: "h1",
    merchantId: "m1",
    requestId: "r-1",
    seq: 1,
    iat: 1_000,
    exp: 61_000,
    amountMinor: 1250,
    currency: "EUR",
    mode: "reader",
    payer: { kind: "hce", walletId: "w1", atc: 1, unpredictableNumber: Buffer.alloc(4), cryptogram: Buffer.alloc(64) },
    ...overrides,
  };
}

describe("money", () => {
  it("accepts integer minor units of a known currency and formats them for people", () => {
    expect(assertMoney(1250, "EUR")).toEqual({ amountMinor: 1250, currency: "EUR" });
    expect(formatMoney({ amountMinor: 1250, currency: "EUR" })).toBe("12.50 EUR");
    expect(formatMoney({ amountMinor: 5, currency: "USD" })).toBe("0.05 USD");
    expect(formatMoney({ amountMinor: 1200, currency: "JPY" })).toBe("1200 JPY");
    expect(formatMoney({ amountMinor: 1, currency: "BHD" })).toBe("0.001 BHD");
  });

  it("refuses floats, zero, negatives, huge amounts and unknown currencies with codes", () => {
    expect(() => assertMoney(12.5, "EUR")).toThrow(expect.objectContaining({ code: ErrorCode.InvalidMoney }));
    expect(() => assertMoney(0, "EUR")).toThrow(expect.objectContaining({ code: ErrorCode.InvalidMoney }));
    expect(() => assertMoney(-1, "EUR")).toThrow(expect.objectContaining({ code: ErrorCode.InvalidMoney }));
    expect(() => assertMoney(2 ** 60, "EUR")).toThrow(expect.objectContaining({ code: ErrorCode.InvalidMoney }));
    expect(() => assertMoney(100, "XXX")).toThrow(expect.objectContaining({ code: ErrorCode.UnknownCurrency }));
  });
});

describe("messages", () => {
  it("round-trips a payment request through CBOR and its schema", () => {
    const decoded = parseBody(hubRequestSchema, decodeBody(encodeBody(request())));
    expect(decoded).toEqual(request());
  });

  it("reports every schema problem as path: message under SchemaInvalid", () => {
    let caught: { code: number; context?: { details: string[] } } | undefined;
    try {
      parseBody(paymentRequestSchema, { ...request(), amountMinor: 12.5, currency: "XXX", hubId: "a/b" });
    } catch (error) {
      caught = error as typeof caught;
    }
    expect(caught?.code).toBe(ErrorCode.SchemaInvalid);
    const paths = caught?.context?.details.map((d) => d.split(":")[0]);
    expect(paths).toEqual(expect.arrayContaining(["amountMinor", "currency", "hubId"]));
  });

  it("seals and opens a message, refusing another signer and oversize input", () => {
    const hub = generateP256();
    const sealed = sealMessage(request(), hub.privateKey);
    expect(openSealed(sealed, hub.publicKey, paymentRequestSchema).body.amountMinor).toBe(1250);
    expect(() => openSealed(sealed, generateP256().publicKey, paymentRequestSchema)).toThrow(
      expect.objectContaining({ code: ErrorCode.BadSignature }),
    );
    expect(() => openSealed(Buffer.alloc(messageBytesMax + 1), hub.publicKey, paymentRequestSchema)).toThrow(
      expect.objectContaining({ code: ErrorCode.PayloadTooLarge }),
    );
  });

  it("binds an HCE cryptogram to amount, currency, terminal and counter", () => {
    const wallet = generateP256();
    const input = { walletId: "w1", hubId: "h1", amountMinor: 1250, currency: "EUR", unpredictableNumber: new Uint8Array([1, 2, 3, 4]), atc: 7 };
    const cryptogram = signCryptogram(input, wallet.privateKey);
    expect(() => verifyCryptogram(input, cryptogram, wallet.publicKey)).not.toThrow();
    for (const changed of [{ amountMinor: 1251 }, { currency: "USD" }, { hubId: "h2" }, { atc: 8 }]) {
      expect(() => verifyCryptogram({ ...input, ...changed }, cryptogram, wallet.publicKey)).toThrow(
        expect.objectContaining({ code: ErrorCode.PayerCredentialInvalid }),
      );
    }
  });
});
