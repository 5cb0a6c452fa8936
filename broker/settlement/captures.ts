import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { Receipt } from "../../protocol/messages.ts";
import { paymentLegs } from "../campaigns/campaign-legs.ts";
import { campaignPaymentModes, noCampaign, type CampaignPart, type CampaignRedemptions, type Pricing } from "../campaigns/redemptions.ts";
import { approvedVerdict, maskPayer, type Verdict } from "../decisions/verdicts.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { SqliteDb } from "../ledger/sqlite-db.ts";
import type { Hub, Merchant, Wallet } from "../registry/principals.ts";
import type { Registry } from "../registry/registry.ts";
import type { PaymentRecord, SettlementStore } from "./settlement-store.ts";

/** A payment a hub asked for (reader, tag, glasses, offline, or a held one now approved), its payer known. */
export interface Capture {
  hub: Hub;
  requestId: string;
  wallet: Wallet;
  amountMinor: number;
  currency: string;
  mode: string;
}

export interface CaptureDeps {
  db: SqliteDb;
  registry: Registry;
  ledger: Ledger;
  store: SettlementStore;
  campaigns: CampaignRedemptions;
}

/**
 * The pipeline's post step for a hub's payments, inside the batch transaction: the last checks every payment
 * goes through (voided, currency, per-payment limit), the campaign price, the ledger legs and the payment record.
 */
export class Captures {
  private readonly savepoint: (work: () => Verdict) => Verdict;

  constructor(private readonly deps: CaptureDeps) {
    this.savepoint = deps.db.transaction((work: () => Verdict) => work());
  }

  /** Checks and posts a payment whose payer is already verified. */
  charge(c: Capture, nowMs: number): Verdict {
    return this.capture(c, this.check(c), nowMs);
  }

  refuseVoided(hubId: string, requestId: string): void {
    if (this.deps.store.isVoided(hubId, requestId)) {
      throw new TapwireError(`payment ${requestId} was reversed before it arrived`, ErrorCode.Cancelled, { hubId, requestId });
    }
  }

  /** Returns the merchant it checked, for the capture that follows. */
  check(c: Capture): Merchant {
    const merchant = this.deps.registry.getMerchant(c.hub.merchantId);
    for (const [holder, currency] of [
      [`wallet ${c.wallet.walletId}`, c.wallet.currency],
      [`merchant ${merchant.merchantId}`, merchant.currency],
    ] as const) {
      if (currency !== c.currency) {
        throw new TapwireError(`${holder} holds ${currency}, payment is in ${c.currency}`, ErrorCode.CurrencyMismatch);
      }
    }
    if (c.amountMinor > c.wallet.perPaymentMaxMinor) {
      throw new TapwireError(`amount ${c.amountMinor} above per-payment limit ${c.wallet.perPaymentMaxMinor}`, ErrorCode.LimitExceeded, {
        walletId: c.wallet.walletId,
      });
    }
    return merchant;
  }

  /**
   * `merchant` is what check(c) returned, in this transaction. A payment some campaign qualifies for is
   * priced and posted in a savepoint, so the budget its discount took goes back with everything else if the
   * payment then fails (funds); one no campaign qualifies for posts as it always did.
   */
  capture(c: Capture, merchant: Merchant, nowMs: number): Verdict {
    const { campaigns } = this.deps;
    const candidates = campaignPaymentModes.has(c.mode)
      ? campaigns.candidatesFor({ merchantId: merchant.merchantId, walletId: c.wallet.walletId, amountMinor: c.amountMinor, currency: c.currency }, nowMs)
      : [];
    if (candidates.length === 0) return this.post(c, merchant, noCampaign, nowMs);
    return this.savepoint(() => this.post(c, merchant, campaigns.price(candidates, c.wallet.walletId, nowMs), nowMs));
  }

  /** The payment's legs (campaign-legs.ts) under one posting time, its record, and what the campaign gave it. */
  private post(c: Capture, merchant: Merchant, pricing: Pricing, nowMs: number): Verdict {
    const { ledger, store } = this.deps;
    const parties = { walletId: c.wallet.walletId, merchantId: merchant.merchantId, currency: c.currency, reference: `${c.hub.hubId}/${c.requestId}` };
    const [paid, discounted] = ledger.postLinked(paymentLegs(parties, c.amountMinor, pricing));
    assert(paid, "a payment posts its customer leg");
    const payment = store.insertPayment({
      hubId: c.hub.hubId,
      requestId: c.requestId,
      merchantId: merchant.merchantId,
      walletId: c.wallet.walletId,
      mode: c.mode,
      amountMinor: c.amountMinor,
      currency: c.currency,
      transferId: paid.transferId,
      capturedAtMs: nowMs,
    });
    const campaign = this.deps.campaigns.record(payment.paymentId, c.wallet.walletId, pricing, discounted?.transferId, nowMs);
    const receipt = receiptOf(payment, c.amountMinor, paid.postedAtMs, campaign);
    if (pricing.outcome !== "exhausted") return approvedVerdict({ receipt });
    const stopped = pricing.stopped ? "; campaign stopped" : "";
    return { status: "approved", code: 0, reason: `approved at full price: campaign ${pricing.campaignId} budget exhausted${stopped}`, receipt };
  }
}

/** The receipt of `amountMinor` of a hub payment moved at postedAtMs: its capture, a refund or a reversal. */
export function receiptOf(payment: PaymentRecord, amountMinor: number, postedAtMs: number, campaign: CampaignPart | undefined): Receipt {
  return {
    paymentId: `pay-${payment.paymentId}`,
    merchantId: payment.merchantId,
    amountMinor,
    currency: payment.currency,
    payerMasked: maskPayer(payment.walletId),
    postedAtMs,
    ...(campaign ? { discountMinor: campaign.discountMinor, campaignId: campaign.campaignId } : {}),
  };
}
