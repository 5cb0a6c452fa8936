import { amountMinorMax } from "../../protocol/money.ts";
import { assertInRanges, type Range, type Ranges } from "../../core/ranges.ts";

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

const amountRange: Range = [1, amountMinorMax, "minor units"];

const durationRanges = {
  stepUpTtlMs: [1_000, 24 * hourMs, "milliseconds"],
  humanReviewTtlMs: [60_000, 30 * 24 * hourMs, "milliseconds"],
  sweepIntervalMs: [10, 60_000, "milliseconds"],
} as const;

export function resolveReviewPolicy(options: ReviewPolicyOptions = {}): ReviewPolicy {
  const policy: ReviewPolicy = {
    hubStepUpAboveMinor: options.hubStepUpAboveMinor,
    humanReviewAboveMinor: options.humanReviewAboveMinor,
    reviewNewMerchants: options.reviewNewMerchants ?? false,
    stepUpTtlMs: options.stepUpTtlMs ?? 300_000,
    humanReviewTtlMs: options.humanReviewTtlMs ?? 24 * hourMs,
    sweepIntervalMs: options.sweepIntervalMs ?? 1_000,
  };
  const ranges: Ranges<ReviewPolicy> = {
    ...durationRanges,
    // A threshold left out is off, so only one that is given is checked.
    ...(policy.hubStepUpAboveMinor === undefined ? {} : { hubStepUpAboveMinor: amountRange }),
    ...(policy.humanReviewAboveMinor === undefined ? {} : { humanReviewAboveMinor: amountRange }),
  };
  return assertInRanges(policy, ranges, "review policy", "review.");
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
