import { assert } from "../../core/assert.ts";
import type { Transfer } from "../ledger/ledger.ts";
import { feeOf, type FeeSchedule } from "./fees.ts";

/**
 * What one merchant's UTC day comes to. Amounts are minor units of `currency`; deductions are positive numbers.
 * movements = sales + campaign contributions − refunds − reversals − dispute refunds − campaign returns + other;
 * base = movements − dispute holds + holds released + carried in (a negative run's base, signed);
 * fees = this day's fees + fees carried in; net = base − fees. net ≥ 0: fees and net are posted (paid);
 * net < 0: nothing is posted and base and fees are carried into the merchant's next run (negative_net).
 */
export interface RunFigures {
  currency: string;
  /** Approved payments on the day (each charged a fee). */
  payments: number;
  /** Customers' parts of the payments (transfer kind payment). */
  salesMinor: number;
  /** Campaigns' parts of discounted payments (campaign_discount): the merchant is paid the full amount. */
  campaignContributionsMinor: number;
  refundsMinor: number;
  reversalsMinor: number;
  disputeRefundsMinor: number;
  /** A campaign's share of a discounted payment given back (campaign_return). */
  campaignReturnsMinor: number;
  /** Movements of any other kind, signed (credits to the merchant positive). */
  otherMinor: number;
  movementsMinor: number;
  /** Remaining amounts of payments under a dispute opened since the last run, kept back. */
  disputeHoldsMinor: number;
  /** Earlier holds whose dispute has been decided since (a refund, if any, is among the day's dispute refunds). */
  holdsReleasedMinor: number;
  carriedInMinor: number;
  carriedInFeesMinor: number;
  baseMinor: number;
  /** This day's fees, without those carried in. */
  dayFeesMinor: number;
  feesMinor: number;
  netMinor: number;
}

/** A transfer on the merchant's account, signed for it: credits positive, debits negative. */
export function signedFor(accountId: string, t: Transfer): number {
  assert(t.creditAccountId === accountId || t.debitAccountId === accountId, `transfer ${t.transferId} does not touch ${accountId}`);
  return t.creditAccountId === accountId ? t.amountMinor : -t.amountMinor;
}

const deductionKinds = {
  refund: "refundsMinor",
  reversal: "reversalsMinor",
  dispute_refund: "disputeRefundsMinor",
  campaign_return: "campaignReturnsMinor",
} as const;

export interface FigureInputs {
  accountId: string;
  currency: string;
  movements: readonly Transfer[];
  schedule: FeeSchedule;
  disputeHoldsMinor: number;
  holdsReleasedMinor: number;
  carriedInMinor: number;
  carriedInFeesMinor: number;
}

/** The figures of a day from its movements (see RunFigures); fees per payment, a payment being its legs' reference. */
export function computeFigures(input: FigureInputs): RunFigures {
  const f = {
    salesMinor: 0,
    campaignContributionsMinor: 0,
    refundsMinor: 0,
    reversalsMinor: 0,
    disputeRefundsMinor: 0,
    campaignReturnsMinor: 0,
    otherMinor: 0,
  };
  const paymentAmounts = new Map<string, number>();
  for (const t of input.movements) {
    assert(t.currency === input.currency, `transfer ${t.transferId} is in ${t.currency}, the merchant in ${input.currency}`);
    const signed = signedFor(input.accountId, t);
    const isPaymentLeg = signed > 0 && (t.kind === "payment" || t.kind === "campaign_discount");
    const deduction = signed < 0 ? deductionKinds[t.kind as keyof typeof deductionKinds] : undefined;
    if (isPaymentLeg) {
      f[t.kind === "payment" ? "salesMinor" : "campaignContributionsMinor"] += signed;
      paymentAmounts.set(t.reference, (paymentAmounts.get(t.reference) ?? 0) + signed);
    } else if (deduction !== undefined) {
      f[deduction] -= signed;
    } else {
      f.otherMinor += signed;
    }
  }
  const movementsMinor = input.movements.reduce((sum, t) => sum + signedFor(input.accountId, t), 0);
  assert(
    movementsMinor === f.salesMinor + f.campaignContributionsMinor - f.refundsMinor - f.reversalsMinor - f.disputeRefundsMinor - f.campaignReturnsMinor + f.otherMinor,
    "every movement falls in exactly one line",
  );
  const dayFeesMinor = [...paymentAmounts.values()].reduce((sum, amountMinor) => sum + feeOf(input.schedule, amountMinor), 0);
  const baseMinor = movementsMinor - input.disputeHoldsMinor + input.holdsReleasedMinor + input.carriedInMinor;
  const feesMinor = dayFeesMinor + input.carriedInFeesMinor;
  return {
    currency: input.currency,
    payments: paymentAmounts.size,
    ...f,
    movementsMinor,
    disputeHoldsMinor: input.disputeHoldsMinor,
    holdsReleasedMinor: input.holdsReleasedMinor,
    carriedInMinor: input.carriedInMinor,
    carriedInFeesMinor: input.carriedInFeesMinor,
    baseMinor,
    dayFeesMinor,
    feesMinor,
    netMinor: baseMinor - feesMinor,
  };
}
