import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { RefundRequest, ReversalRequest } from "../../protocol/messages.ts";
import { giveBackLegs } from "../campaigns/campaign-legs.ts";
import type { CampaignPart, CampaignRedemptions } from "../campaigns/redemptions.ts";
import { approvedVerdict, type Verdict } from "../decisions/verdicts.ts";
import type { FxQuote } from "../../protocol/fx.ts";
import type { FxDesk } from "../fx/fx-desk.ts";
import { merchantAccountId, providerAccountId, type Ledger, type TransferInput } from "../ledger/ledger.ts";
import type { ProviderRegistry } from "../providers/provider-registry.ts";
import type { Hub } from "../registry/principals.ts";
import { receiptOf } from "./captures.ts";
import type { PaymentRecord, SettlementStore } from "./settlement-store.ts";

export interface RefundDeps {
  ledger: Ledger;
  store: SettlementStore;
  campaigns: CampaignRedemptions;
  fx: FxDesk;
  providers: ProviderRegistry;
}

interface GivenBack {
  transferId: number;
  postedAtMs: number;
  campaign: CampaignPart | undefined;
  fx?: FxQuote;
}

/** A hub gives money of a captured payment back: part of it (refund) or all that is left (reversal). */
export class Refunds {
  constructor(private readonly deps: RefundDeps) {}

  refund(hub: Hub, request: RefundRequest, nowMs: number): Verdict {
    const payment = this.findPayment(hub, request.paymentRequestId);
    if (request.currency !== payment.currency) {
      throw new TapwireError(`payment is in ${payment.currency}, refund in ${request.currency}`, ErrorCode.CurrencyMismatch);
    }
    if (payment.status === "reversed") {
      throw new TapwireError(`payment ${payment.requestId} was reversed`, ErrorCode.AlreadyReversed, { paymentRequestId: payment.requestId });
    }
    if (payment.refundedMinor + request.amountMinor > payment.amountMinor) {
      throw new TapwireError(
        `refund ${request.amountMinor} on top of ${payment.refundedMinor} exceeds captured ${payment.amountMinor}`,
        ErrorCode.RefundExceedsCaptured,
        { paymentRequestId: payment.requestId },
      );
    }
    const back = this.giveBack(payment, request.amountMinor, "refund", `${hub.hubId}/${request.requestId}`);
    this.deps.store.addRefund(payment, hub.hubId, request.requestId, request.amountMinor, back.transferId, nowMs);
    return approvedVerdict({ receipt: receiptOf(payment, request.amountMinor, back.postedAtMs, back.campaign), ...(back.fx ? { fx: back.fx } : {}) });
  }

  /** Returns what is left of a captured payment; a payment that never arrived is voided so it cannot be charged later. */
  reverse(hub: Hub, request: ReversalRequest, nowMs: number): Verdict {
    const { store } = this.deps;
    const payment = store.findMerchantPayment(hub.merchantId, request.paymentRequestId, hub.hubId);
    if (!payment) {
      if (store.isVoided(hub.hubId, request.paymentRequestId)) {
        throw new TapwireError(`payment ${request.paymentRequestId} is already voided`, ErrorCode.AlreadyReversed);
      }
      store.addVoid(hub.hubId, request.paymentRequestId, request.requestId, nowMs);
      return approvedVerdict();
    }
    const remainingMinor = payment.amountMinor - payment.refundedMinor;
    if (payment.status === "reversed" || remainingMinor === 0) {
      throw new TapwireError(`payment ${payment.requestId} has nothing left to reverse`, ErrorCode.AlreadyReversed, {
        paymentRequestId: payment.requestId,
      });
    }
    const back = this.giveBack(payment, remainingMinor, "reversal", `${hub.hubId}/${request.requestId}`);
    store.markReversed(payment.paymentId, nowMs);
    return approvedVerdict({ receipt: receiptOf(payment, remainingMinor, back.postedAtMs, back.campaign), ...(back.fx ? { fx: back.fx } : {}) });
  }

  private findPayment(hub: Hub, paymentRequestId: string): PaymentRecord {
    const payment = this.deps.store.findMerchantPayment(hub.merchantId, paymentRequestId, hub.hubId);
    if (!payment) {
      throw new TapwireError(`no payment ${paymentRequestId} for merchant ${hub.merchantId}`, ErrorCode.UnknownPayment, {
        merchantId: hub.merchantId,
        paymentRequestId,
      });
    }
    return payment;
  }

  /**
   * Gives amountMinor of a payment back, on top of what refunds gave before. Of a discounted payment the
   * campaign gets its proportional share (campaign-rules.ts campaignShareOf) and the customer the rest, as
   * linked legs; `transferId` is the first leg's, for the refund record.
   */
  private giveBack(payment: PaymentRecord, amountMinor: number, kind: string, reference: string): GivenBack {
    const { campaigns, ledger, fx, providers } = this.deps;
    const converted = fx.find(payment.paymentId);
    const authorized = providers.authorizationOfPayment(payment.paymentId);
    if (converted) {
      // At the payment's own quote, whatever the rate table says today (fx-desk.ts giveBack).
      const back = fx.giveBack(converted, payment.merchantId, payment.refundedMinor, amountMinor, kind, reference);
      const posted = this.postFirst(back.legs);
      if (authorized && back.quote.payerAmountMinor > 0) {
        providers.addNotice({ ...authorized, reference, amountMinor: back.quote.payerAmountMinor, currency: back.quote.payerCurrency }, posted.postedAtMs);
      }
      return { ...posted, campaign: undefined, fx: back.quote };
    }
    if (authorized) {
      const leg = { debitAccountId: merchantAccountId(payment.merchantId), creditAccountId: providerAccountId(authorized.providerId), amountMinor, currency: payment.currency, kind, reference };
      const posted = this.postFirst([leg]);
      providers.addNotice({ ...authorized, reference, amountMinor, currency: payment.currency }, posted.postedAtMs);
      return { ...posted, campaign: undefined };
    }
    const back = campaigns.shareOf(payment.paymentId, payment.amountMinor, payment.refundedMinor, amountMinor);
    const [first] = ledger.postLinked(giveBackLegs({ ...payment, reference }, amountMinor, kind, back));
    assert(first, `giving back ${amountMinor} posts at least one leg`);
    if (back) campaigns.settleGiveBack(payment.paymentId, back);
    return { transferId: first.transferId, postedAtMs: first.postedAtMs, campaign: back && { campaignId: back.campaignId, discountMinor: back.shareMinor } };
  }

  /** Posts the legs of one give-back; the first is the merchant's, the one the refund record names. */
  private postFirst(legs: TransferInput[]): { transferId: number; postedAtMs: number } {
    const [first] = this.deps.ledger.postLinked(legs);
    assert(first, "a give-back posts its merchant leg");
    return { transferId: first.transferId, postedAtMs: first.postedAtMs };
  }
}
