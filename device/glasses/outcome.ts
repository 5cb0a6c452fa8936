import type { Decision } from "../../protocol/messages.ts";

/**
 * How one purchase conversation ended. Only `approved` moved money; every other kind is a distinct way of
 * not paying, each with its TapwireError code (0 for approved, the service's code for declined).
 */
export const outcomeKinds = [
  "approved",
  "declined",
  "cancelled",
  "silence",
  "unclear",
  "quantity_refused",
  "offer_expired",
  "biometric_failed",
  "biometric_timeout",
  "wrong_person",
  "step_up_exhausted",
  "review_timeout",
  "no_decision",
  "failed",
] as const;
export type OutcomeKind = (typeof outcomeKinds)[number];

export interface PurchaseOutcome {
  kind: OutcomeKind;
  code: number;
  /** The payment request, when one was sent (a reversal follows every unfinished one). */
  paymentRequestId?: string;
  decision?: Decision;
}
