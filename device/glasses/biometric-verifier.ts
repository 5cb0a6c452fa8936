import { timingSafeEqual, type KeyObject } from "node:crypto";
import { z } from "zod";
import { decodeBody } from "../../protocol/cbor.ts";
import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import { openMessage, readEnvelope } from "../../protocol/envelope.ts";
import { idSchema } from "../../protocol/ids.ts";
import { protocolVersion } from "../../protocol/messages.ts";
import type { BiometricIdentity, BiometricVerifier } from "./ports.ts";

/**
 * What paired glasses sign after checking the wearer: who they recognised, how, that the person was live,
 * and the hub's challenge. A minimal local schema until protocol/glasses.ts defines the shared one.
 */
export const biometricAssertionSchema = z.object({
  type: z.literal("biometric_assertion"),
  v: z.literal(protocolVersion),
  glassesId: idSchema,
  ownerId: idSchema,
  challenge: z.instanceof(Uint8Array).refine((b) => b.length >= 16 && b.length <= 64, "16-64 bytes"),
  method: z.enum(["voiceprint", "iris"]),
  userVerified: z.boolean(),
  liveness: z.boolean(),
  iat: z.number().int().min(0),
});
export type BiometricAssertion = z.infer<typeof biometricAssertionSchema>;

export interface PairedGlasses {
  glassesId: string;
  /** The glasses' P-256 key, learned at pairing. */
  publicKey: KeyObject;
}

function failed(message: string): TapwireError {
  return new TapwireError(message, ErrorCode.BiometricFailed);
}

function claimedGlassesId(payload: Uint8Array): unknown {
  const body = decodeBody(payload);
  return typeof body === "object" && body !== null ? (body as Record<string, unknown>)["glassesId"] : undefined;
}

/** Checks a COSE_Sign1 biometric assertion against the one pair of glasses this hub is paired with. */
export class PairedGlassesVerifier implements BiometricVerifier {
  constructor(private readonly paired: PairedGlasses) {}

  verify(assertion: Uint8Array, challenge: Uint8Array): BiometricIdentity {
    let body: BiometricAssertion;
    try {
      const parts = readEnvelope(assertion);
      const claimed = claimedGlassesId(parts.payload);
      if (claimed !== this.paired.glassesId) {
        throw new TapwireError(`assertion from unpaired glasses ${String(claimed)}`, ErrorCode.GlassesNotPaired);
      }
      body = openMessage(parts, this.paired.publicKey, biometricAssertionSchema).body;
    } catch (error) {
      if (isTapwireError(error, ErrorCode.GlassesNotPaired)) throw error;
      throw failed(`assertion rejected: ${(error as Error).message}`);
    }
    const sameChallenge = body.challenge.length === challenge.length && timingSafeEqual(body.challenge, challenge);
    if (!sameChallenge) throw failed("assertion answers another challenge");
    if (!body.userVerified) throw failed(`${body.method} did not verify the wearer`);
    if (!body.liveness) throw failed("liveness check failed");
    return { ownerId: body.ownerId, glassesId: body.glassesId };
  }
}
