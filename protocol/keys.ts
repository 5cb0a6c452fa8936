import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { ErrorCode, TapwireError } from "./errors.ts";

/** P-256 key pairs, as a secure element (ATECC608, TPM 2.0) would hold them. */
export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A fresh ECDSA P-256 key pair (ES256), the kind Pi secure elements hold. */
export function generateP256(): KeyPair {
  return generateKeyPairSync("ec", { namedCurve: "prime256v1" });
}

/** The public key (of a public or private key) as SPKI PEM. */
export function publicKeyPem(key: KeyObject): string {
  return key.export({ type: "spki", format: "pem" }).toString();
}

/** The key as PKCS#8 PEM. */
export function privateKeyPem(key: KeyObject): string {
  return key.export({ type: "pkcs8", format: "pem" }).toString();
}

/** A P-256 public key from SPKI PEM; ConfigInvalid for anything else. */
export function importPublicPem(pem: string): KeyObject {
  try {
    const key = createPublicKey(pem);
    assertP256(key);
    return key;
  } catch (error) {
    throw new TapwireError(`invalid public key: ${(error as Error).message}`, ErrorCode.InvalidKey);
  }
}

/** A P-256 private key from PKCS#8 or SEC1 PEM; ConfigInvalid for anything else. */
export function importPrivatePem(pem: string): KeyObject {
  try {
    const key = createPrivateKey(pem);
    assertP256(key);
    return key;
  } catch (error) {
    throw new TapwireError(`invalid private key: ${(error as Error).message}`, ErrorCode.InvalidKey);
  }
}

/** Imports the JWK form used by the cose-wg vectors (kty EC, crv P-256, base64url x, y and optional d). */
export function importJwk(jwk: { kty: string; crv: string; x: string; y: string; d?: string }): KeyPair | { publicKey: KeyObject } {
  const publicKey = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: "jwk" });
  if (jwk.d === undefined) return { publicKey };
  const privateKey = createPrivateKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d }, format: "jwk" });
  return { publicKey, privateKey };
}

/** Whether a key is an EC key on P-256 (prime256v1), the only curve tapwire signs with. */
export function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1";
}

function assertP256(key: KeyObject): void {
  if (!isP256(key)) throw new Error("not a P-256 key");
}

/** A short stable key id: the first 8 bytes of SHA-256 over the SPKI DER. */
export function keyId(publicKey: KeyObject): Uint8Array {
  const der = publicKey.export({ type: "spki", format: "der" });
  return new Uint8Array(createHash("sha256").update(der).digest().subarray(0, 8));
}
