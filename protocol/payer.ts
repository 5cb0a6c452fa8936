import { createSign, createVerify, type KeyObject } from "node:crypto";
import { structCodec } from "./cbor.ts";
import { ErrorCode, TapwireError } from "./errors.ts";

/**
 * The EMV-style cryptogram an HCE wallet (phone or card) returns in reader mode: an ES256 signature by the
 * wallet's key over what the terminal sent (amount, currency, its unpredictable number) and the wallet's
 * application transaction counter (ATC), which must only move forward. Bound to the hub, so a cryptogram
 * captured at one terminal cannot be replayed at another.
 */
export interface CryptogramInput {
  walletId: string;
  hubId: string;
  amountMinor: number;
  currency: string;
  unpredictableNumber: Uint8Array;
  atc: number;
}

export function cryptogramData(input: CryptogramInput): Buffer {
  return structCodec.encode([
    "tapwire-hce-v1",
    input.walletId,
    input.hubId,
    input.amountMinor,
    input.currency,
    input.unpredictableNumber,
    input.atc,
  ]);
}

export function signCryptogram(input: CryptogramInput, walletKey: KeyObject): Uint8Array {
  const signer = createSign("sha256");
  signer.update(cryptogramData(input));
  return new Uint8Array(signer.sign({ key: walletKey, dsaEncoding: "ieee-p1363" }));
}

export function verifyCryptogram(input: CryptogramInput, cryptogram: Uint8Array, walletPublicKey: KeyObject): void {
  const verifier = createVerify("sha256");
  verifier.update(cryptogramData(input));
  if (cryptogram.length !== 64 || !verifier.verify({ key: walletPublicKey, dsaEncoding: "ieee-p1363" }, cryptogram)) {
    throw new TapwireError("payer cryptogram does not verify", ErrorCode.PayerCredentialInvalid);
  }
}
