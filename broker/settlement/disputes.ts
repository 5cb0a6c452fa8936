import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { formatMoney } from "../../protocol/money.ts";
import type { DisputeOpen } from "../../protocol/review.ts";
import { agentPaymentIdPrefix } from "../agents/agent-payments.ts";
import type { MandateStore } from "../agents/mandate-store.ts";
import { giveBackLegs } from "../campaigns/campaign-legs.ts";
import type { CampaignRedemptions } from "../campaigns/redemptions.ts";
import { approvedVerdict, maskPayer, type Verdict } from "../decisions/verdicts.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { SettlementStore } from "./settlement-store.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export interface DisputeDeps {
  db: SqlDb;
  ledger: Ledger;
  store: SettlementStore;
  mandates: MandateStore;
  /** A hub payment a campaign discounted gives its share back to the campaign, as a hub refund does. */
  campaigns: CampaignRedemptions;
}

/** A payment a dispute can name: a hub's (`pay-N`) or an agent's (`agentpay-N`), reduced to what a refund needs. */
interface Disputable {
  paymentId: string;
  walletId: string;
  merchantId: string;
  amountMinor: number;
  refundedMinor: number;
  currency: string;
  describe: Record<string, string>;
  /** The settlement payment row of a hub payment (campaign discounts are kept by it); absent for agent payments. */
  hubPaymentRowId?: number;
  recordRefund(amountMinor: number, transferId: number, caseId: string, nowMs: number): void;
}

const hubPaymentIdPrefix = "pay-";

function sequenceOf(paymentId: string, prefix: string): number | undefined {
  if (!paymentId.startsWith(prefix)) return undefined;
  const n = Number(paymentId.slice(prefix.length));
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** Which table a receipt's payment id (`pay-N`, `agentpay-N`) names, and its row. */
export function paymentRowOf(paymentId: string): { kind: "hub" | "agent"; rowId: number } | undefined {
  const agentSeq = sequenceOf(paymentId, agentPaymentIdPrefix);
  if (agentSeq !== undefined) return { kind: "agent", rowId: agentSeq };
  const hubSeq = sequenceOf(paymentId, hubPaymentIdPrefix);
  return hubSeq === undefined ? undefined : { kind: "hub", rowId: hubSeq };
}

function findDisputable(deps: DisputeDeps, paymentId: string): Disputable {
  const row = paymentRowOf(paymentId);
  const agentPayment = row?.kind === "agent" ? deps.mandates.findPayment(row.rowId) : undefined;
  if (agentPayment) {
    return {
      ...agentPayment,
      paymentId,
      describe: { agentId: agentPayment.agentId, mandateId: agentPayment.mandateId, agentRequestId: agentPayment.requestId, category: agentPayment.category },
      recordRefund: (amountMinor) => deps.mandates.addRefund(agentPayment.paymentId, amountMinor),
    };
  }
  const hubPayment = row?.kind === "hub" ? deps.store.findPaymentById(row.rowId) : undefined;
  if (hubPayment && hubPayment.status === "captured") {
    return {
      ...hubPayment,
      paymentId,
      describe: { hubId: hubPayment.hubId, hubRequestId: hubPayment.requestId, mode: hubPayment.mode },
      hubPaymentRowId: hubPayment.paymentId,
      recordRefund: (amountMinor, transferId, caseId, nowMs) => deps.store.addRefund(hubPayment, hubPayment.hubId, caseId, amountMinor, transferId, nowMs),
    };
  }
  throw new TapwireError(`no open payment ${paymentId}`, ErrorCode.UnknownPayment, { paymentId });
}

/** Checks a dispute can be opened and returns what the operator will see. */
export function disputeContext(deps: DisputeDeps, dispute: DisputeOpen): Record<string, string> {
  const payment = findDisputable(deps, dispute.paymentId);
  if (payment.walletId !== dispute.walletId) {
    throw new TapwireError(`payment ${dispute.paymentId} was not made by wallet ${dispute.walletId}`, ErrorCode.WalletMismatch);
  }
  if (payment.refundedMinor >= payment.amountMinor) {
    throw new TapwireError(`payment ${dispute.paymentId} is already refunded`, ErrorCode.AlreadyReversed);
  }
  return {
    ...payment.describe,
    paymentId: dispute.paymentId,
    merchantId: payment.merchantId,
    amount: formatMoney({ amountMinor: payment.amountMinor, currency: payment.currency }),
    refunded: formatMoney({ amountMinor: payment.refundedMinor, currency: payment.currency }),
    reason: dispute.reason,
  };
}

/** Resolving in the payer's favour refunds what is left of the payment, once (a savepoint: all or nothing). */
export function refundDispute(deps: DisputeDeps, paymentId: string, caseId: string, nowMs: number): Verdict {
  return deps.db.transaction(() => {
    const payment = findDisputable(deps, paymentId);
    const remainingMinor = payment.amountMinor - payment.refundedMinor;
    if (remainingMinor <= 0) throw new TapwireError(`payment ${paymentId} has nothing left to refund`, ErrorCode.AlreadyReversed);
    const rowId = payment.hubPaymentRowId;
    const back = rowId === undefined ? undefined : deps.campaigns.shareOf(rowId, payment.amountMinor, payment.refundedMinor, remainingMinor);
    const legs = giveBackLegs({ ...payment, reference: `disputes/${caseId}` }, remainingMinor, "dispute_refund", back);
    const [transfer] = deps.ledger.postLinked(legs);
    assert(transfer !== undefined, `a refund of ${remainingMinor} posts at least one leg`);
    if (back && rowId !== undefined) deps.campaigns.settleGiveBack(rowId, back);
    payment.recordRefund(remainingMinor, transfer.transferId, caseId, nowMs);
    return approvedVerdict({
      receipt: {
        paymentId,
        merchantId: payment.merchantId,
        amountMinor: remainingMinor,
        currency: payment.currency,
        payerMasked: maskPayer(payment.walletId),
        postedAtMs: transfer.postedAtMs,
        ...(back ? { campaignId: back.campaignId, discountMinor: back.shareMinor } : {}),
      },
    });
  })();
}
