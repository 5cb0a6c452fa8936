import { createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { z } from "zod";
import { idSchema } from "./ids.ts";
import { isP256 } from "./keys.ts";
import { protocolVersion } from "./messages.ts";

/** A P-256 SubjectPublicKeyInfo in DER is 91 bytes; anything much longer is not one. */
export const renewalPublicKeyBytesMax = 128;
/** ES256 in IEEE P1363 form: r ‖ s. */
const proofBytes = 64;

/**
 * A hub asks for a certificate for a key it just made, over its existing mTLS link, sealed (COSE_Sign1) with its
 * current key. `proof` is the new key's signature over renewalProofInput: the hub holds the key it asks to certify.
 * The answer is a decision whose `certificate` carries the new certificate; the old one stays valid until the hub
 * connects with the new one.
 */
export const certRenewalSchema = z
  .object({
    type: z.literal("cert_renewal"),
    v: z.literal(protocolVersion),
    hubId: idSchema,
    requestId: idSchema,
    iat: z.number().int().min(0),
    exp: z.number().int().min(0),
    publicKey: z.instanceof(Uint8Array).refine((value) => value.length > 0 && value.length <= renewalPublicKeyBytesMax, "must be a DER public key"),
    proof: z.instanceof(Uint8Array).refine((value) => value.length === proofBytes, `must be ${proofBytes} bytes`),
  })
  .strict();
export type CertRenewal = z.infer<typeof certRenewalSchema>;

/** What the new key signs: bound to the hub and the request, so a proof cannot be reused elsewhere. */
export function renewalProofInput(hubId: string, requestId: string, publicKeyDer: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`tapwire cert renewal\0${hubId}\0${requestId}\0`, "utf8"), Buffer.from(publicKeyDer)]);
}

export function signRenewalProof(hubId: string, requestId: string, newKey: { privateKey: KeyObject; publicKeyDer: Uint8Array }): Buffer {
  return sign("sha256", renewalProofInput(hubId, requestId, newKey.publicKeyDer), { key: newKey.privateKey, dsaEncoding: "ieee-p1363" });
}

/** The new public key, if the DER is a P-256 key and the proof verifies with it; undefined otherwise. */
export function provenRenewalKey(renewal: CertRenewal): KeyObject | undefined {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(renewal.publicKey), format: "der", type: "spki" });
  } catch {
    return undefined;
  }
  if (!isP256(publicKey)) return undefined;
  const input = renewalProofInput(renewal.hubId, renewal.requestId, renewal.publicKey);
  return verify("sha256", input, { key: publicKey, dsaEncoding: "ieee-p1363" }, renewal.proof) ? publicKey : undefined;
}
