import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { amountMinorMax } from "../../protocol/money.ts";

/**
 * When a payment goes to a person (step-up) or to the operator queue (human review). Agent mandates carry
 * their own step-up threshold; these apply on top, to agents and hubs alike. All off by default.
 */
export interface ReviewPolicyOptions {
  /** Hub payments above this need the person's step-up (at a glasses hub: a fresh biometric assertion). */
  hubStepUpAboveMinor?: number;
  /** Any payment above this goes to the operator queue. */
  humanReviewAboveMinor?: number;
  /** An agent paying a merchant it never paid under this mandate goes to the operator queue. */
  reviewNewMerchants?: boolean;
  /** How long a person has to answer a step-up. Default 300 000 ms. */
  stepUpTtlMs?: number;
  /** How long a review case waits for an operator before it is declined. Default 24 h. */
  humanReviewTtlMs?: number;
  /** How often the running service expires cases and publishes pushed decisions. Default 1 000 ms. */
  sweepIntervalMs?: number;
}

export interface ReviewPolicy {
  hubStepUpAboveMinor: number | undefined;
  humanReviewAboveMinor: number | undefined;
  reviewNewMerchants: boolean;
  stepUpTtlMs: number;
  humanReviewTtlMs: number;
  sweepIntervalMs: number;
}

export interface RiskSignal {
  rule: "ambiguous" | "amount_above_review_threshold" | "new_merchant";
  detail: string;
}

const hourMs = 3_600_000;

function optionalAmount(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 1 || value > amountMinorMax) {
    throw new TapwireError(`${name} must be an integer between 1 and ${amountMinorMax} minor units, got ${value}`, ErrorCode.ConfigInvalid, { option: name });
  }
  return value;
}

function durationMs(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new TapwireError(`${name} must be an integer between ${min} and ${max} milliseconds, got ${value}`, ErrorCode.ConfigInvalid, { option: name });
  }
  return value;
}

export function resolveReviewPolicy(options: ReviewPolicyOptions = {}): ReviewPolicy {
  return {
    hubStepUpAboveMinor: optionalAmount("review.hubStepUpAboveMinor", options.hubStepUpAboveMinor),
    humanReviewAboveMinor: optionalAmount("review.humanReviewAboveMinor", options.humanReviewAboveMinor),
    reviewNewMerchants: options.reviewNewMerchants ?? false,
    stepUpTtlMs: durationMs("review.stepUpTtlMs", options.stepUpTtlMs ?? 300_000, 1_000, 24 * hourMs),
    humanReviewTtlMs: durationMs("review.humanReviewTtlMs", options.humanReviewTtlMs ?? 24 * hourMs, 60_000, 30 * 24 * hourMs),
    sweepIntervalMs: durationMs("review.sweepIntervalMs", options.sweepIntervalMs ?? 1_000, 10, 60_000),
  };
}

/** The reasons a payment should wait for an operator; empty when none applies. */
export function reviewSignals(
  input: { amountMinor: number; context: Readonly<Record<string, string>> | undefined; newMerchant: boolean },
  policy: ReviewPolicy,
): RiskSignal[] {
  const signals: RiskSignal[] = [];
  const ambiguous = input.context?.["ambiguous"];
  if (ambiguous === "true" || ambiguous === "1") signals.push({ rule: "ambiguous", detail: "the request was flagged ambiguous" });
  if (policy.humanReviewAboveMinor !== undefined && input.amountMinor > policy.humanReviewAboveMinor) {
    signals.push({ rule: "amount_above_review_threshold", detail: `${input.amountMinor} above ${policy.humanReviewAboveMinor}` });
  }
  if (policy.reviewNewMerchants && input.newMerchant) signals.push({ rule: "new_merchant", detail: "first payment to this merchant under the mandate" });
  return signals;
}
