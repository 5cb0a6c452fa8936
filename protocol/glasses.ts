import { createHmac, createPublicKey, timingSafeEqual, type KeyObject } from "node:crypto";
import { z } from "zod";
import { decodeBody, encodeBody } from "./cbor.ts";
import { openSealed, sealMessage } from "./envelope.ts";
import { ErrorCode, TapwireError } from "./errors.ts";
import { idSchema } from "./ids.ts";
import { keyId, isP256 } from "./keys.ts";
import { parseBody, protocolVersion } from "./messages.ts";
import { amountMinorMax, isCurrency } from "./money.ts";
import { sameBytes } from "./bytes.ts";

/**
 * What smart glasses and their hub say to each other over BLE. Each message is a CBOR map with `type` and
 * `v`; the link layer (firmware-bridge/ble/frames.ts) fragments it to the ATT MTU. Whatever must be trusted
 * beyond the radio link (pairing, session proof, biometric assertion) is a COSE_Sign1 by the glasses' own
 * P-256 key, learned at pairing.
 *
 * Slightly over the house's ~300 lines: one schema per message of the glasses protocol, kept together as a wire
 * contract is.
 */
export const glassesLangs = ["fr", "en", "zh"] as const;
export type GlassesLang = (typeof glassesLangs)[number];

export const biometricMethods = ["voiceprint", "iris"] as const;
export type BiometricMethod = (typeof biometricMethods)[number];

/** Hub challenges (pairing, session, biometric) are random bytes in this range. */
export const challengeBytesMin = 16;
export const challengeBytesMax = 64;
/** The pairing code the glasses show and the owner types on the hub. */
export const pairingCodePattern = /^[0-9]{6}$/;

const v = z.literal(protocolVersion);
const amountMinor = z.number().int().min(1).max(amountMinorMax);
const currency = z.string().refine(isCurrency, "unknown ISO 4217 currency");
const timestampMs = z.number().int().min(0);
const lang = z.enum(glassesLangs);
const bytes = (lengthMin: number, lengthMax: number) =>
  z.custom<Uint8Array>((value) => value instanceof Uint8Array, "must be a byte string").refine((b) => b.length >= lengthMin && b.length <= lengthMax, `${lengthMin}-${lengthMax} bytes`);
const challenge = bytes(challengeBytesMin, challengeBytesMax);
/** A COSE_Sign1 made by the glasses; small enough for a handful of BLE frames. */
const signed = bytes(1, 1024);

// Glasses → hub

export const productSeenSchema = z.object({
  type: z.literal("product_seen"),
  v,
  productId: idSchema,
  merchantId: idSchema,
  name: z.string().min(1).max(120),
  amountMinor,
  currency,
});
export type ProductSeenMessage = z.infer<typeof productSeenSchema>;

export const utteranceSchema = z.object({
  type: z.literal("utterance"),
  v,
  text: z.string().max(500),
  lang,
  confidence: z.number().min(0).max(1),
});
export type UtteranceMessage = z.infer<typeof utteranceSchema>;

/** Carries the COSE_Sign1 over a BiometricClaim; the hub forwards the bytes unchanged to settlement. */
export const biometricAssertionMessageSchema = z.object({
  type: z.literal("biometric_assertion"),
  v,
  assertion: signed,
});
export type BiometricAssertionMessage = z.infer<typeof biometricAssertionMessageSchema>;

export const batterySchema = z.object({
  type: z.literal("battery"),
  v,
  percent: z.number().int().min(0).max(100),
});
export type BatteryMessage = z.infer<typeof batterySchema>;

/** The glasses' answer to pair_request: their key (SPKI DER) and a PairClaim signed with it. */
export const pairResponseSchema = z.object({
  type: z.literal("pair_response"),
  v,
  publicKey: bytes(64, 200),
  claim: signed,
});
export type PairResponseMessage = z.infer<typeof pairResponseSchema>;

/** The glasses' answer to auth_challenge: a SessionClaim signed with the paired key. */
export const authResponseSchema = z.object({
  type: z.literal("auth_response"),
  v,
  claim: signed,
});
export type AuthResponseMessage = z.infer<typeof authResponseSchema>;

export const glassesToHubSchema = z.discriminatedUnion("type", [
  productSeenSchema,
  utteranceSchema,
  biometricAssertionMessageSchema,
  batterySchema,
  pairResponseSchema,
  authResponseSchema,
]);
export type GlassesToHub = z.infer<typeof glassesToHubSchema>;

// Hub → glasses

export const showOfferSchema = z.object({
  type: z.literal("show_offer"),
  v,
  offerId: idSchema,
  merchantId: idSchema,
  text: z.string().max(500),
  lang,
  amountMinor,
  currency,
});
export type ShowOfferMessage = z.infer<typeof showOfferSchema>;

export const saySchema = z.object({
  type: z.literal("say"),
  v,
  text: z.string().max(500),
  lang,
});
export type SayMessage = z.infer<typeof saySchema>;

export const biometricChallengeSchema = z.object({
  type: z.literal("biometric_challenge"),
  v,
  challenge,
});
export type BiometricChallengeMessage = z.infer<typeof biometricChallengeSchema>;

export const pairRequestSchema = z.object({
  type: z.literal("pair_request"),
  v,
  nonce: challenge,
});
export type PairRequestMessage = z.infer<typeof pairRequestSchema>;

export const pairResultSchema = z.object({
  type: z.literal("pair_result"),
  v,
  ok: z.boolean(),
  glassesId: idSchema,
});
export type PairResultMessage = z.infer<typeof pairResultSchema>;

/** Sent on every connection to paired glasses: they must prove they hold the paired key. */
export const authChallengeSchema = z.object({
  type: z.literal("auth_challenge"),
  v,
  nonce: challenge,
});
export type AuthChallengeMessage = z.infer<typeof authChallengeSchema>;

export const hubToGlassesSchema = z.discriminatedUnion("type", [
  showOfferSchema,
  saySchema,
  biometricChallengeSchema,
  pairRequestSchema,
  pairResultSchema,
  authChallengeSchema,
]);
export type HubToGlasses = z.infer<typeof hubToGlassesSchema>;

/** CBOR bytes of one link message; validated before encoding so a bad message never reaches the radio. */
export function encodeGlassesMessage<T extends GlassesToHub | HubToGlasses>(schema: z.ZodType<T>, message: T): Buffer {
  return encodeBody(parseBody(schema, message));
}

/** Decodes and validates one reassembled link message (MalformedCbor or SchemaInvalid otherwise). */
export function decodeGlassesMessage<T>(schema: z.ZodType<T>, bytes: Uint8Array): T {
  return parseBody(schema, decodeBody(bytes));
}

// Signed claims

/** What the glasses sign after checking the wearer (the body inside the biometric assertion). */
export const biometricClaimSchema = z.object({
  type: z.literal("biometric_assertion"),
  v,
  glassesId: idSchema,
  ownerId: idSchema,
  method: z.enum(biometricMethods),
  userVerified: z.boolean(),
  liveness: z.boolean(),
  challenge,
  iat: timestampMs,
});
export type BiometricClaim = z.infer<typeof biometricClaimSchema>;

export const pairClaimSchema = z.object({
  type: z.literal("pair_claim"),
  v,
  glassesId: idSchema,
  ownerId: idSchema,
  nonce: challenge,
  /** HMAC-SHA256 keyed by the code the glasses show: proves these are the glasses the owner looked at. */
  codeProof: bytes(32, 32),
});
export type PairClaim = z.infer<typeof pairClaimSchema>;

export const sessionClaimSchema = z.object({
  type: z.literal("session_claim"),
  v,
  glassesId: idSchema,
  nonce: challenge,
});
export type SessionClaim = z.infer<typeof sessionClaimSchema>;

export function signGlassesClaim(claim: BiometricClaim | PairClaim | SessionClaim, privateKey: KeyObject, publicKey: KeyObject): Buffer {
  return sealMessage(claim, privateKey, keyId(publicKey));
}

export function signBiometricAssertion(claim: BiometricClaim, privateKey: KeyObject, publicKey: KeyObject): Buffer {
  return signGlassesClaim(parseBody(biometricClaimSchema, claim), privateKey, publicKey);
}

export interface BiometricExpectation {
  publicKey: KeyObject;
  glassesId: string;
  ownerId: string;
  /** The challenge the hub sent; the assertion must answer exactly this one. */
  challenge: Uint8Array;
  nowMs: number;
  /** How old (or how far in the future, for clock skew) `iat` may be. */
  ageMsMax: number;
}


/**
 * Verifies a biometric assertion. Codes: BadSignature / MalformedCose / SchemaInvalid for a forged or broken
 * one, BleAssertionMismatch when it names other glasses, another owner or another challenge, MessageExpired
 * when `iat` is outside the window, BiometricFailed when the wearer was not verified or not live.
 */
export function verifyBiometricAssertion(assertion: Uint8Array, expected: BiometricExpectation): BiometricClaim {
  const claim = openSealed(assertion, expected.publicKey, biometricClaimSchema).body;
  if (claim.glassesId !== expected.glassesId || claim.ownerId !== expected.ownerId) {
    throw new TapwireError("assertion names other glasses or another owner", ErrorCode.BleAssertionMismatch, {
      glassesId: claim.glassesId,
    });
  }
  if (!sameBytes(claim.challenge, expected.challenge)) {
    throw new TapwireError("assertion answers another challenge", ErrorCode.BleAssertionMismatch);
  }
  if (Math.abs(expected.nowMs - claim.iat) > expected.ageMsMax) {
    throw new TapwireError(`assertion iat ${claim.iat} outside ±${expected.ageMsMax} ms`, ErrorCode.MessageExpired);
  }
  if (!claim.userVerified) throw new TapwireError(`${claim.method} did not verify the wearer`, ErrorCode.BiometricFailed);
  if (!claim.liveness) throw new TapwireError("liveness check failed", ErrorCode.BiometricFailed);
  return claim;
}

export function pairingCodeProof(code: string, nonce: Uint8Array, glassesId: string, publicKeyDer: Uint8Array): Buffer {
  return createHmac("sha256", code).update("tapwire-pair-v1").update(nonce).update(glassesId).update(publicKeyDer).digest();
}

export function publicKeyDer(publicKey: KeyObject): Buffer {
  return publicKey.export({ type: "spki", format: "der" });
}

function importPublicDer(der: Uint8Array): KeyObject {
  try {
    const key = createPublicKey({ key: Buffer.from(der), format: "der", type: "spki" });
    if (!isP256(key)) {
      throw new Error("not a P-256 key");
    }
    return key;
  } catch (error) {
    throw new TapwireError(`glasses key: ${(error as Error).message}`, ErrorCode.InvalidKey);
  }
}

export interface VerifiedPairing {
  glassesId: string;
  ownerId: string;
  publicKey: KeyObject;
}

/**
 * Checks a pair_response against the code the owner typed and the nonce the hub sent. A wrong code or nonce
 * is BlePairingRefused; a claim not signed by the key it carries is BadSignature.
 */
export function verifyPairResponse(response: PairResponseMessage, code: string, nonce: Uint8Array): VerifiedPairing {
  const publicKey = importPublicDer(response.publicKey);
  const claim = openSealed(response.claim, publicKey, pairClaimSchema).body;
  if (!sameBytes(claim.nonce, nonce)) throw new TapwireError("pair claim answers another request", ErrorCode.BlePairingRefused);
  const proof = pairingCodeProof(code, nonce, claim.glassesId, response.publicKey);
  if (!sameBytes(claim.codeProof, proof)) throw new TapwireError("pairing code does not match", ErrorCode.BlePairingRefused);
  return { glassesId: claim.glassesId, ownerId: claim.ownerId, publicKey };
}

/** Checks the session proof of already-paired glasses (BlePairingRefused if it is not them). */
export function verifySessionClaim(claimBytes: Uint8Array, publicKey: KeyObject, glassesId: string, nonce: Uint8Array): void {
  let claim: SessionClaim;
  try {
    claim = openSealed(claimBytes, publicKey, sessionClaimSchema).body;
  } catch (error) {
    throw new TapwireError(`session proof rejected: ${(error as Error).message}`, ErrorCode.BlePairingRefused);
  }
  if (claim.glassesId !== glassesId || !sameBytes(claim.nonce, nonce)) {
    throw new TapwireError("session proof names other glasses or another nonce", ErrorCode.BlePairingRefused);
  }
}
