import { assert } from "../../core/assert.ts";

/**
 * The arithmetic of a promotion, on integers only. Products of two amounts can leave the safe-integer range
 * (10^12 × 10^4), so they are taken in BigInt and the quotient, never above its dividend, comes back exact.
 *
 * - `amount_off`: offMinor off the payment.
 * - `percent`: percentBps basis points of the payment, floored to the minor unit, then at most capMinor.
 * Either way a discount leaves the customer at least one minor unit to pay (at most amountMinor − 1), so
 * every discounted payment still moves money out of the customer's wallet.
 */
export type CampaignRule = { kind: "amount_off"; offMinor: number } | { kind: "percent"; percentBps: number; capMinor: number };

export const basisPointsPerWhole = 10_000;
export const dayMs = 86_400_000;

/** floor(a × b / c) for non-negative safe integers, exactly. */
export function mulDivFloor(a: number, b: number, c: number): number {
  assert(Number.isSafeInteger(a) && Number.isSafeInteger(b) && Number.isSafeInteger(c) && a >= 0 && b >= 0 && c > 0, `mulDivFloor(${a}, ${b}, ${c})`);
  return Number((BigInt(a) * BigInt(b)) / BigInt(c));
}

/** What the rule takes off a payment of amountMinor; 0 when nothing (a payment of one minor unit). */
export function discountFor(rule: CampaignRule, amountMinor: number): number {
  assert(Number.isSafeInteger(amountMinor) && amountMinor > 0, `amount ${amountMinor}`);
  const ruled = rule.kind === "amount_off" ? rule.offMinor : Math.min(mulDivFloor(amountMinor, rule.percentBps, basisPointsPerWhole), rule.capMinor);
  return Math.min(ruled, amountMinor - 1);
}

/**
 * The campaign's share of money given back on a discounted payment (refund or reversal), proportional and
 * cumulative: once `givenBackMinor` of the payment's amount is given back in total, the campaign has had
 * floor(givenBackMinor × discount / amount) back. This gift's share is the step of that floor, so partial
 * refunds never return more than the discount, and the last one (reaching the whole amount) returns exactly
 * what is left of it. The customer gets the rest of each refund: rounding favours the customer by under a unit.
 */
export function campaignShareOf(discountMinor: number, amountMinor: number, givenBackBeforeMinor: number, givingBackMinor: number): number {
  const after = givenBackBeforeMinor + givingBackMinor;
  assert(givingBackMinor > 0 && after <= amountMinor && discountMinor < amountMinor, `give back ${givingBackMinor} after ${givenBackBeforeMinor} of ${amountMinor}`);
  return mulDivFloor(after, discountMinor, amountMinor) - mulDivFloor(givenBackBeforeMinor, discountMinor, amountMinor);
}

/** The UTC day a time falls on (days since the epoch): what the per-day limits count by. */
export function utcDayOf(nowMs: number): number {
  return Math.floor(nowMs / dayMs);
}
