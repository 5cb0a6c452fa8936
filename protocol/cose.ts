import { createSign, createVerify, type KeyObject } from "node:crypto";
import { Tag } from "cbor-x";
import { structCodec } from "./cbor.ts";
import { ErrorCode, TapwireError } from "./errors.ts";
import { isP256 } from "./keys.ts";

/**
 * COSE_Sign1 (RFC 9052 §4.2) with ES256 only: the one algorithm the secure elements a Pi hub carries
 * (ATECC608, TPM 2.0) can sign with. Checked against the cose-wg vectors in test/vectors/cose/.
 */
export const coseSign1Tag = 18;
export const headerAlg = 1;
export const headerCrit = 2;
export const headerContentType = 3;
export const headerKid = 4;
export const algEs256 = -7;

/** What a verifier learns from a message before it trusts it: enough to pick the key. */
export interface Sign1Parts {
  protectedBytes: Uint8Array;
  protectedHeader: Map<unknown, unknown>;
  unprotectedHeader: Map<unknown, unknown>;
  payload: Uint8Array;
  signature: Uint8Array;
}

export interface SignOptions {
  kid?: Uint8Array;
  externalAad?: Uint8Array;
}

const emptyBytes = new Uint8Array(0);

export function toBeSigned(protectedBytes: Uint8Array, payload: Uint8Array, externalAad: Uint8Array = emptyBytes): Buffer {
  return structCodec.encode(["Signature1", protectedBytes, externalAad, payload]);
}

/** The protected header every tapwire signature carries, {alg: ES256}: encoded once, as it never changes. */
const es256ProtectedBytes: Uint8Array = structCodec.encode(new Map([[headerAlg, algEs256]]));

export function signSign1(payload: Uint8Array, privateKey: KeyObject, options: SignOptions = {}): Buffer {
  const protectedBytes = es256ProtectedBytes;
  const unprotectedHeader = new Map<number, unknown>();
  if (options.kid) unprotectedHeader.set(headerKid, options.kid);
  const signer = createSign("sha256");
  signer.update(toBeSigned(protectedBytes, payload, options.externalAad));
  const signature = signer.sign({ key: privateKey, dsaEncoding: "ieee-p1363" });
  return structCodec.encode(new Tag([protectedBytes, unprotectedHeader, payload, signature], coseSign1Tag));
}

function malformed(message: string): TapwireError {
  return new TapwireError(`malformed COSE_Sign1: ${message}`, ErrorCode.MalformedCose);
}

function asBytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw malformed(`${what} must be a byte string`);
  return value;
}

/** Parses the structure without checking the signature (callers must then call verifySign1). */
export function decodeSign1(bytes: Uint8Array): Sign1Parts {
  let item = structCodec.decode(bytes);
  if (item instanceof Tag) {
    if (item.tag !== coseSign1Tag) throw malformed(`CBOR tag ${item.tag} is not COSE_Sign1 (18)`);
    item = item.value;
  }
  if (!Array.isArray(item) || item.length !== 4) throw malformed("expected an array of 4 items");
  const [protectedRaw, unprotectedHeader, payloadRaw, signatureRaw] = item as unknown[];
  const protectedBytes = asBytes(protectedRaw, "protected header");
  if (!(unprotectedHeader instanceof Map)) throw malformed("unprotected header must be a map");
  const payload = asBytes(payloadRaw, "payload (detached payloads are not used by tapwire)");
  const signature = asBytes(signatureRaw, "signature");
  let protectedHeader = new Map<unknown, unknown>();
  if (protectedBytes.length > 0) {
    const decoded = structCodec.decode(protectedBytes);
    if (!(decoded instanceof Map)) throw malformed("protected header must encode a map");
    protectedHeader = decoded;
  }
  for (const label of protectedHeader.keys()) {
    if (unprotectedHeader.has(label)) throw malformed(`header label ${String(label)} is both protected and unprotected`);
  }
  return { protectedBytes, protectedHeader, unprotectedHeader, payload, signature };
}

export function sign1Kid(parts: Sign1Parts): Uint8Array | undefined {
  const kid = parts.protectedHeader.get(headerKid) ?? parts.unprotectedHeader.get(headerKid);
  return kid instanceof Uint8Array ? kid : undefined;
}

function algorithmOf(parts: Sign1Parts): unknown {
  return parts.protectedHeader.has(headerAlg) ? parts.protectedHeader.get(headerAlg) : parts.unprotectedHeader.get(headerAlg);
}

/** RFC 9052 §4.4: an empty protected map (even if sent as h'A0') is a zero-length bstr in Sig_structure. */
export function sign1ToBeSigned(parts: Sign1Parts, externalAad: Uint8Array = emptyBytes): Buffer {
  const bodyProtected = parts.protectedHeader.size === 0 ? emptyBytes : parts.protectedBytes;
  return toBeSigned(bodyProtected, parts.payload, externalAad);
}

/** Checks algorithm, critical headers and the signature; returns the payload only if all hold. */
export function verifySign1(parts: Sign1Parts, publicKey: KeyObject, externalAad: Uint8Array = emptyBytes): Uint8Array {
  const alg = algorithmOf(parts);
  if (alg !== algEs256) {
    throw new TapwireError(`algorithm ${String(alg)} is not ES256 (-7)`, ErrorCode.UnsupportedAlgorithm);
  }
  if (parts.protectedHeader.has(headerCrit)) {
    throw new TapwireError("critical header parameters are not understood", ErrorCode.UnsupportedAlgorithm);
  }
  if (!isP256(publicKey)) {
    throw new TapwireError("ES256 needs a P-256 public key", ErrorCode.InvalidKey);
  }
  if (parts.signature.length !== 64) {
    throw new TapwireError(`ES256 signature must be 64 bytes, got ${parts.signature.length}`, ErrorCode.BadSignature);
  }
  const verifier = createVerify("sha256");
  verifier.update(sign1ToBeSigned(parts, externalAad));
  if (!verifier.verify({ key: publicKey, dsaEncoding: "ieee-p1363" }, parts.signature)) {
    throw new TapwireError("signature does not verify", ErrorCode.BadSignature);
  }
  return parts.payload;
}

/** decodeSign1 + verifySign1 for callers that already know the key. */
export function openSign1(bytes: Uint8Array, publicKey: KeyObject, externalAad?: Uint8Array): Uint8Array {
  return verifySign1(decodeSign1(bytes), publicKey, externalAad);
}
