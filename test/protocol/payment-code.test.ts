import { describe, expect, it } from "vitest";
import { decodeBase45, encodeBase45 } from "../../protocol/base45.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { issuePaymentCode, paymentCodePrefix, readPaymentCode, verifyPaymentCode } from "../../protocol/payment-code.ts";
import { SeededRandom } from "../../core/sources.ts";

function codeOf(action: () => unknown): number | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return error.code;
  }
}

describe("Base45 (RFC 9285)", () => {
  it("encodes and decodes the RFC's examples", () => {
    const examples: Array<[string, string]> = [
      ["AB", "BB8"],
      ["Hello!!", "%69 VD92EX0"],
      ["base-45", "UJCLQE7W581"],
      ["ietf!", "QED8WEX0"],
    ];
    for (const [plain, encoded] of examples) {
      expect(encodeBase45(Buffer.from(plain))).toBe(encoded);
      expect(Buffer.from(decodeBase45(encoded)).toString()).toBe(plain);
    }
  });

  it("round-trips every byte value and odd lengths", () => {
    const bytes = Uint8Array.from({ length: 257 }, (_, i) => i % 256);
    expect(decodeBase45(encodeBase45(bytes))).toEqual(bytes);
  });

  it("refuses a group over 65535, a lone trailing character and characters outside the alphabet", () => {
    expect(codeOf(() => decodeBase45("GGW"))).toBe(ErrorCode.ScanInvalid);
    expect(codeOf(() => decodeBase45("BB8A"))).toBe(ErrorCode.ScanInvalid);
    expect(codeOf(() => decodeBase45("bb8"))).toBe(ErrorCode.ScanInvalid);
  });
});

describe("payment codes", () => {
  const keys = generateP256();
  const nowMs = Date.UTC(2026, 11, 3, 12);

  it("a code the wallet issued reads on the hub and verifies on the service, naming its wallet", () => {
    const { text, claim } = issuePaymentCode({ walletId: "w1", privateKey: keys.privateKey, nowMs, random: new SeededRandom(1) });

    expect(text.startsWith(paymentCodePrefix)).toBe(true);
    expect(text).toMatch(/^[0-9A-Z $%*+\-./:]+$/);
    const read = readPaymentCode(text);
    expect(read.walletId).toBe("w1");
    expect(verifyPaymentCode(read.code, { walletId: "w1", publicKey: keys.publicKey, nowMs, skewMs: 30_000 })).toEqual(claim);
  });

  it("the hub refuses what is not a tapwire code: another barcode, a cut read, a damaged one", () => {
    const { text } = issuePaymentCode({ walletId: "w1", privateKey: keys.privateKey, nowMs, random: new SeededRandom(2) });
    for (const scanned of ["4006381333931", text.slice(0, text.length - 20), text.replace("TW1:", "TW1:A"), `${text}${"0".repeat(600)}`]) {
      expect(codeOf(() => readPaymentCode(scanned))).toBe(ErrorCode.ScanInvalid);
    }
  });
});
