import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { decodeSign1, openSign1, sign1ToBeSigned, signSign1, verifySign1 } from "../../protocol/cose.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { generateP256, importJwk } from "../../protocol/keys.ts";

const vectorsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "vectors", "cose");

interface Vector {
  title: string;
  fail?: boolean;
  input: { sign0: { key: { kty: string; crv: string; x: string; y: string; d?: string }; external?: string } };
  intermediates: { ToBeSign_hex: string };
  output: { cbor: string };
}

function load(folder: string, prefix: string): Array<[string, Vector]> {
  return readdirSync(join(vectorsDir, folder))
    .filter((name) => name.startsWith(prefix))
    .map((name) => [name, JSON.parse(readFileSync(join(vectorsDir, folder, name), "utf8")) as Vector]);
}

const aadOf = (v: Vector) => (v.input.sign0.external ? Buffer.from(v.input.sign0.external, "hex") : undefined);

describe("COSE_Sign1 against the cose-wg vectors", () => {
  const passing = [...load("sign1-tests", "sign-pass-"), ...load("ecdsa-examples", "ecdsa-sig-01")];
  const failing = load("sign1-tests", "sign-fail-");

  it("finds the vectors", () => {
    expect(passing.length).toBe(4);
    expect(failing.length).toBe(6);
  });

  it.each(passing)("%s verifies and rebuilds ToBeSigned exactly", (_name, vector) => {
    const parts = decodeSign1(Buffer.from(vector.output.cbor, "hex"));
    const { publicKey } = importJwk(vector.input.sign0.key);
    expect(sign1ToBeSigned(parts, aadOf(vector)).toString("hex").toUpperCase()).toBe(vector.intermediates.ToBeSign_hex);
    expect(Buffer.from(verifySign1(parts, publicKey, aadOf(vector))).toString()).toBe("This is the content.");
  });

  it.each(failing)("%s is rejected with a typed error", (_name, vector) => {
    expect(vector.fail).toBe(true);
    const { publicKey } = importJwk(vector.input.sign0.key);
    let caught: unknown;
    try {
      openSign1(Buffer.from(vector.output.cbor, "hex"), publicKey, aadOf(vector));
    } catch (error) {
      caught = error;
    }
    expect(isTapwireError(caught)).toBe(true);
  });

  it("refuses algorithms other than ES256 (the P-384 and P-521 vectors)", () => {
    for (const [, vector] of load("ecdsa-examples", "ecdsa-sig-0").filter(([name]) => name !== "ecdsa-sig-01.json")) {
      const parts = decodeSign1(Buffer.from(vector.output.cbor, "hex"));
      expect(() => verifySign1(parts, importJwk(vector.input.sign0.key).publicKey)).toThrow(
        expect.objectContaining({ code: ErrorCode.UnsupportedAlgorithm }),
      );
    }
  });

  it("signs what it verifies, and a signature by another key fails", () => {
    const signer = generateP256();
    const other = generateP256();
    const message = signSign1(Buffer.from("pay 1250 EUR"), signer.privateKey);
    expect(Buffer.from(openSign1(message, signer.publicKey)).toString()).toBe("pay 1250 EUR");
    expect(() => openSign1(message, other.publicKey)).toThrow(expect.objectContaining({ code: ErrorCode.BadSignature }));
  });

  it("turns garbage into MalformedCbor or MalformedCose, never a crash", () => {
    const { publicKey } = generateP256();
    for (const garbage of ["ff", "d2", "d28440", "a0", "d284404040", "1bffffffffffffffff"]) {
      let caught: unknown;
      try {
        openSign1(Buffer.from(garbage, "hex"), publicKey);
      } catch (error) {
        caught = error;
      }
      expect(isTapwireError(caught)).toBe(true);
      expect([ErrorCode.MalformedCbor, ErrorCode.MalformedCose]).toContain((caught as { code: number }).code);
    }
  });
});
