import { createHash } from "node:crypto";
import { z } from "zod";
import { fxQuoteSchema } from "./fx.ts";
import { idSchema } from "./ids.ts";
import { amountMinorMax, isCurrency } from "./money.ts";
import { protocolVersion } from "./messages.ts";

/**
 * The settlement service and a wallet provider (another wallet operator) over MQTT, both COSE_Sign1 ES256. The
 * service asks on the provider's `res` topic (`tapwire/v1/providers/<id>/res`, as it answers every principal
 * there) and the provider answers on its own `req` topic, within contract.providerAnswerMsMax.
 *
 * The authorization id is the same for every retry of one payment (authorizationIdFor), so a provider that keeps
 * its answer by id answers a repeated question with its first answer and never holds the money twice.
 */
const amountMinor = z.number().int().min(1).max(amountMinorMax);
const currency = z.string().refine(isCurrency, "unknown ISO 4217 currency");
const timestampMs = z.number().int().min(0);

export const providerAuthorizationSchema = z.object({
  type: z.literal("provider_authorization"),
  v: z.literal(protocolVersion),
  authorizationId: idSchema,
  providerId: idSchema,
  /** The provider's wallet that pays, as the payer's credential named it. */
  walletId: idSchema,
  merchantId: idSchema,
  hubId: idSchema,
  /** What the provider is asked to pay, in its home currency (the quote's payer amount when converted). */
  amountMinor,
  currency,
  /** Present when the merchant is paid in another currency: the locked quote the amounts come from. */
  fx: fxQuoteSchema.optional(),
  iat: timestampMs,
  /** The provider's deadline: an answer after it is not used (the payment is declined ProviderTimeout). */
  exp: timestampMs,
});
/** The service's signed question to a provider: pay this much of this wallet to this merchant? */
export type ProviderAuthorization = z.infer<typeof providerAuthorizationSchema>;

export const providerAnswerSchema = z.object({
  type: z.literal("provider_answer"),
  v: z.literal(protocolVersion),
  authorizationId: idSchema,
  providerId: idSchema,
  /** SHA-256 of the authorization body it answers: an answer to another question (an old one) does not fit. */
  requestHash: z.instanceof(Uint8Array).refine((b) => b.length === 32, "32 bytes"),
  status: z.enum(["approved", "declined"]),
  reason: z.string().max(200),
  amountMinor,
  currency,
  iat: timestampMs,
});
/** A provider's signed approve or decline of one authorization. */
export type ProviderAnswer = z.infer<typeof providerAnswerSchema>;

/**
 * The service tells a provider an approval it gave was not posted (the payment was declined in the batch after the
 * provider approved: a replayed counter, a limit): the provider lets go of what it held for it. Never sent for an
 * approval that was posted; a storage fault sends nothing, as the hub's retry asks again under the same id.
 */
export const providerReleaseSchema = z.object({
  type: z.literal("provider_release"),
  v: z.literal(protocolVersion),
  authorizationId: idSchema,
  providerId: idSchema,
  /** The decline the payment got instead (`E303 LimitExceeded`). */
  reason: z.string().max(200),
  iat: timestampMs,
});
/** The service's signed word that an approval was not used. */
export type ProviderRelease = z.infer<typeof providerReleaseSchema>;

/**
 * Money given back to a provider's wallet (a refund or reversal of a payment it authorized), for the provider to
 * credit the wallet: in the provider's currency, converted at the payment's own quote. Sent at least once after the
 * give-back commits; `reference` names the give-back, so the provider credits each once.
 */
export const providerRefundSchema = z.object({
  type: z.literal("provider_refund"),
  v: z.literal(protocolVersion),
  authorizationId: idSchema,
  providerId: idSchema,
  /** `<hubId>/<requestId>` of the refund or reversal. */
  reference: z.string().min(3).max(129),
  amountMinor,
  currency,
  iat: timestampMs,
});
/** The service's signed word that money went back to one of the provider's wallets. */
export type ProviderRefund = z.infer<typeof providerRefundSchema>;

/** A message the service sends a provider: an authorization request, a release, or a refund notice. */
export const serviceToProviderSchema = z.discriminatedUnion("type", [providerAuthorizationSchema, providerReleaseSchema, providerRefundSchema]);

/** The authorization id of one hub payment, the same for all its retries. */
export function authorizationIdFor(hubId: string, requestId: string): string {
  return `a-${createHash("sha256").update(`${hubId}/${requestId}`).digest("hex").slice(0, 32)}`;
}
