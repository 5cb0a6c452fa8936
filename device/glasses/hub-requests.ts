import { z } from "zod";
import { idSchema } from "../../protocol/ids.ts";
import {
  glassesCredentialSchema,
  parseBody,
  paymentRequestSchema,
  protocolVersion,
  reversalRequestSchema,
  type PaymentRequest,
  type ReversalRequest,
} from "../../protocol/messages.ts";
import type { Offer, Pairing, Utterance } from "./ports.ts";

/**
 * The bodies the glasses hub signs. Each is validated against its schema before it is sealed, so the hub
 * never publishes what the service would reject as malformed.
 */
export interface RequestStamp {
  hubId: string;
  merchantId: string;
  requestId: string;
  seq: number;
  iatMs: number;
  ttlMs: number;
}

const contextValueCharsMax = 256;

function stampFields(stamp: RequestStamp) {
  return {
    v: protocolVersion,
    hubId: stamp.hubId,
    merchantId: stamp.merchantId,
    requestId: stamp.requestId,
    seq: stamp.seq,
    iat: stamp.iatMs,
    exp: stamp.iatMs + stamp.ttlMs,
  } as const;
}

function glassesCredential(pairing: Pairing, assertion: Uint8Array) {
  return { kind: "glasses", walletId: pairing.walletId, glassesId: pairing.glassesId, assertion } as const;
}

/** The signed cart: amount is the offer's total; the context records what was seen and said, for disputes. */
export function paymentRequestBody(
  stamp: RequestStamp,
  offer: Offer,
  pairing: Pairing,
  assertion: Uint8Array,
  utterance: Utterance | undefined,
): PaymentRequest {
  return parseBody(paymentRequestSchema, {
    type: "payment_request",
    ...stampFields(stamp),
    amountMinor: offer.amountMinor,
    currency: offer.currency,
    mode: "glasses",
    payer: glassesCredential(pairing, assertion),
    context: {
      productId: offer.productId,
      productName: offer.productName,
      quantity: String(offer.quantity),
      unitAmountMinor: String(offer.unitAmountMinor),
      utterance: (utterance?.text ?? "").slice(0, contextValueCharsMax),
      lang: utterance?.lang ?? pairing.lang,
    },
  });
}

/**
 * The person's answer to `step_up_required`: a fresh biometric assertion over a new challenge, bound to the
 * payment it approves. Not yet part of protocol/messages.ts's hub requests; the service must accept it.
 */
export const stepUpApprovalSchema = z.object({
  type: z.literal("step_up_approval"),
  v: z.literal(protocolVersion),
  hubId: idSchema,
  merchantId: idSchema,
  requestId: idSchema,
  seq: z.number().int().min(1),
  iat: z.number().int().min(0),
  exp: z.number().int().min(0),
  paymentRequestId: idSchema,
  caseId: idSchema.optional(),
  payer: glassesCredentialSchema,
});
export type StepUpApproval = z.infer<typeof stepUpApprovalSchema>;

export function stepUpApprovalBody(
  stamp: RequestStamp,
  paymentRequestId: string,
  caseId: string | undefined,
  pairing: Pairing,
  assertion: Uint8Array,
): StepUpApproval {
  return parseBody(stepUpApprovalSchema, {
    type: "step_up_approval",
    ...stampFields(stamp),
    paymentRequestId,
    ...(caseId === undefined ? {} : { caseId }),
    payer: glassesCredential(pairing, assertion),
  });
}

/** Voids a payment the hub gave up on (no decision, review too long, step-up not completed). */
export function reversalBody(stamp: RequestStamp, paymentRequestId: string, reason: ReversalRequest["reason"]): ReversalRequest {
  return parseBody(reversalRequestSchema, { type: "reversal", ...stampFields(stamp), paymentRequestId, reason });
}
