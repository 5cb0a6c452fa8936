import type { Offer, Pairing, Utterance } from "./ports.ts";

/**
 * The fields of the requests the glasses hub signs, without the counted header (the sealer adds it, validates the
 * whole body against protocol/messages.ts, signs and journals it).
 */
const contextValueCharsMax = 256;

function glassesCredential(pairing: Pairing, assertion: Uint8Array) {
  return { kind: "glasses", walletId: pairing.walletId, glassesId: pairing.glassesId, assertion } as const;
}

/** The signed cart: amount is the offer's total; the context records what was seen and said, for disputes. */
export function paymentFields(offer: Offer, pairing: Pairing, assertion: Uint8Array, utterance: Utterance | undefined): Record<string, unknown> {
  return {
    type: "payment_request",
    merchantId: offer.merchantId,
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
  };
}

/** The person's answer to `step_up_required`: a fresh biometric assertion over a new challenge, bound to the payment. */
export function stepUpApprovalFields(
  merchantId: string,
  paymentRequestId: string,
  caseId: string | undefined,
  pairing: Pairing,
  assertion: Uint8Array,
): Record<string, unknown> {
  return {
    type: "step_up_approval",
    merchantId,
    paymentRequestId,
    ...(caseId === undefined ? {} : { caseId }),
    payer: glassesCredential(pairing, assertion),
  };
}
