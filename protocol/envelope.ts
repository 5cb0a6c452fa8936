import type { KeyObject } from "node:crypto";
import type { z } from "zod";
import { decodeBody, encodeBody } from "./cbor.ts";
import { decodeSign1, signSign1, verifySign1, type Sign1Parts } from "./cose.ts";
import { ErrorCode, TapwireError } from "./errors.ts";
import { bodyHash, parseBody } from "./messages.ts";

/** The largest signed message any tapwire topic accepts; checked before any parsing. */
export const messageBytesMax = 8 * 1024;

/** Signs `body` (CBOR) as a COSE_Sign1 with ES256 (RFC 9052); `kid` names the key when given. */
export function sealMessage(body: object, privateKey: KeyObject, kid?: Uint8Array): Buffer {
  return signSign1(encodeBody(body), privateKey, kid ? { kid } : {});
}

export function assertSize(bytes: Uint8Array): void {
  if (bytes.length > messageBytesMax) {
    throw new TapwireError(`message of ${bytes.length} bytes exceeds ${messageBytesMax}`, ErrorCode.PayloadTooLarge);
  }
}

/** Size check and COSE structure: what can be known before choosing a key. */
export function readEnvelope(bytes: Uint8Array): Sign1Parts {
  assertSize(bytes);
  return decodeSign1(bytes);
}

/** A verified COSE_Sign1: its parsed body and the signed parts it came from. */
export interface OpenedMessage<T> {
  body: T;
  /** SHA-256 of the signed payload: the idempotency fingerprint (re-signing the same body keeps it). */
  hash: Uint8Array;
}

/** Verifies the signature with the given key, then decodes and validates the body. */
export function openMessage<T>(parts: Sign1Parts, publicKey: KeyObject, schema: z.ZodType<T>): OpenedMessage<T> {
  const payload = verifySign1(parts, publicKey);
  return { body: parseBody(schema, decodeBody(payload)), hash: bodyHash(payload) };
}

/** For a receiver holding exactly one trusted key (a hub reading the service's decisions). */
export function openSealed<T>(bytes: Uint8Array, publicKey: KeyObject, schema: z.ZodType<T>): OpenedMessage<T> {
  return openMessage(readEnvelope(bytes), publicKey, schema);
}
