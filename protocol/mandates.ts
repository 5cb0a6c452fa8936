import { createPublicKey, type KeyObject } from "node:crypto";
import { z } from "zod";
import { sealMessage } from "./envelope.ts";
import { ErrorCode, TapwireError } from "./errors.ts";
import { idSchema } from "./ids.ts";
import { keyId, isP256 } from "./keys.ts";
import { parseBody, protocolVersion } from "./messages.ts";
import { amountMinorMax, isCurrency } from "./money.ts";

/**
 * Agent payments (AP2 style). An *open* mandate is signed by the person's wallet key on a trusted surface
 * and fixes what an agent may spend: per payment, in total, where, until when, and which key (`agentKey`,
 * the `cnf` of AP2) may close it. A *closed* mandate (`agent_payment`) is one payment, signed by that agent
 * key with no person present. The service consumes every closed mandate exactly once.
 */
const amountMinor = z.number().int().min(1).max(amountMinorMax);
const currency = z.string().refine(isCurrency, "unknown ISO 4217 currency");
const timestampMs = z.number().int().min(0);
const bytes = (lengthMin: number, lengthMax: number) =>
  z.custom<Uint8Array>((value) => value instanceof Uint8Array, "must be a byte string").refine(
    (b) => b.length >= lengthMin && b.length <= lengthMax,
    `${lengthMin}-${lengthMax} bytes`,
  );

export const mandateMerchantsMax = 64;
export const mandateCategoriesMax = 64;
export const categoryPattern = /^[a-z0-9_-]{1,32}$/;
const category = z.string().regex(categoryPattern, "1-32 characters of a-z 0-9 _ -");

export const openMandateSchema = z.object({
  type: z.literal("open_mandate"),
  v: z.literal(protocolVersion),
  mandateId: idSchema,
  walletId: idSchema,
  agentId: idSchema,
  /** The agent's P-256 public key (SPKI DER): only this key may close the mandate. */
  agentKey: bytes(64, 200),
  perPaymentMaxMinor: amountMinor,
  budgetMinor: amountMinor,
  currency,
  allowedMerchants: z.array(idSchema).max(mandateMerchantsMax).optional(),
  allowedCategories: z.array(category).max(mandateCategoriesMax).optional(),
  /** Payments above this need the person's signed approval (step-up), even inside the other limits. */
  stepUpAboveMinor: amountMinor.optional(),
  notBefore: timestampMs,
  expiresAt: timestampMs,
  iat: timestampMs,
});
/** The person's signed grant to an agent: its key, the limits (per payment, budget, step-up threshold), the merchants and categories, and when it is valid. */
export type OpenMandate = z.infer<typeof openMandateSchema>;

const knownMandateFields = new Set(Object.keys(openMandateSchema.shape));

/**
 * A constraint the service does not understand must not be ignored (it could be the one that mattered):
 * unknown fields are MandateConstraintUnmet (AP2's `unresolved_constraint`), before any other check.
 */
export function parseOpenMandate(body: unknown): OpenMandate {
  if (typeof body === "object" && body !== null && !Array.isArray(body)) {
    const unknown = Object.keys(body).filter((field) => !knownMandateFields.has(field));
    if (unknown.length > 0) {
      throw new TapwireError(`unresolved constraint(s): ${unknown.join(", ")}`, ErrorCode.MandateConstraintUnmet, { fields: unknown });
    }
  }
  const mandate = parseBody(openMandateSchema, body);
  if ((mandate.allowedMerchants?.length ?? 0) + (mandate.allowedCategories?.length ?? 0) === 0) {
    throw new TapwireError("a mandate must allow at least one merchant or category", ErrorCode.MandateInvalid);
  }
  if (mandate.perPaymentMaxMinor > mandate.budgetMinor) {
    throw new TapwireError("per-payment maximum above the budget", ErrorCode.MandateInvalid);
  }
  if (mandate.expiresAt <= mandate.notBefore) {
    throw new TapwireError("mandate expires before it starts", ErrorCode.MandateInvalid);
  }
  importAgentKey(mandate.agentKey);
  return mandate;
}

/** The wallet withdraws an open mandate; closed mandates arriving afterwards are declined. */
export const mandateRevokeSchema = z.object({
  type: z.literal("mandate_revoke"),
  v: z.literal(protocolVersion),
  walletId: idSchema,
  requestId: idSchema,
  mandateId: idSchema,
  iat: timestampMs,
  exp: timestampMs,
});
export type MandateRevoke = z.infer<typeof mandateRevokeSchema>;

export const cartSchema = z.object({
  summary: z.string().max(200),
  items: z
    .array(z.object({ productId: idSchema, name: z.string().max(120), quantity: z.number().int().min(1).max(1000), unitAmountMinor: amountMinor }))
    .max(32)
    .optional(),
});
/** What is bought, as the person will see it. */
export type Cart = z.infer<typeof cartSchema>;

/** The closed mandate: one payment, signed by the open mandate's agent key. */
export const agentPaymentSchema = z.object({
  type: z.literal("agent_payment"),
  v: z.literal(protocolVersion),
  agentId: idSchema,
  mandateId: idSchema,
  requestId: idSchema,
  merchantId: idSchema,
  category,
  amountMinor,
  currency,
  cart: cartSchema,
  /** What the agent heard and chose (utterance, product, `ambiguous: "true"`), for review and disputes. */
  context: z.record(z.string(), z.string().max(256)).optional(),
  iat: timestampMs,
  exp: timestampMs,
  nonce: bytes(16, 32),
});
/** A closed mandate: one purchase an agent signs within the person's open mandate. */
export type AgentPayment = z.infer<typeof agentPaymentSchema>;

export function agentKeyDer(publicKey: KeyObject): Uint8Array {
  return new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
}

export function importAgentKey(der: Uint8Array): KeyObject {
  try {
    const key = createPublicKey({ key: Buffer.from(der), format: "der", type: "spki" });
    if (!isP256(key)) throw new Error("not a P-256 key");
    return key;
  } catch (error) {
    throw new TapwireError(`agent key: ${(error as Error).message}`, ErrorCode.InvalidKey);
  }
}

/** The person's wallet signs the open mandate (validated first, so a malformed one never leaves the surface). */
export function sealOpenMandate(mandate: OpenMandate, walletKey: KeyObject, walletPublicKey: KeyObject): Buffer {
  return sealMessage(parseOpenMandate(mandate), walletKey, keyId(walletPublicKey));
}

export function sealAgentPayment(payment: AgentPayment, agentKey: KeyObject, agentPublicKey: KeyObject): Buffer {
  return sealMessage(parseBody(agentPaymentSchema, payment), agentKey, keyId(agentPublicKey));
}
