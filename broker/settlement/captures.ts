import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { Receipt } from "../../protocol/messages.ts";
import { paymentLegs } from "../campaigns/campaign-legs.ts";
import { campaignPaymentModes, noCampaign, type CampaignPart, type CampaignRedemptions, type Pricing } from "../campaigns/redemptions.ts";
import { approvedVerdict, maskPayer, type Verdict } from "../decisions/verdicts.ts";
import { merchantAccountId, providerAccountId, walletAccountId, type Ledger } from "../ledger/ledger.ts";
import type { Hub, Merchant, Wallet } from "../registry/principals.ts";
import type { Registry } from "../registry/registry.ts";
import type { FxDesk } from "../fx/fx-desk.ts";
import type { ProviderApproval } from "../providers/provider-gateway.ts";
import type { ProviderRegistry } from "../providers/provider-registry.ts";
import type { FxQuote } from "../../protocol/fx.ts";
import type { PaymentRecord, SettlementStore } from "./settlement-store.ts";
import type { SqlDb } from "../../core/sql-db.ts";

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
  db: SqlDb;
  registry: Registry;
  ledger: Ledger;
  store: SettlementStore;
  campaigns: CampaignRedemptions;
  fx: FxDesk;
  providers: ProviderRegistry;
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

  /**
   * Returns the merchant it checked, for the capture that follows. A wallet in another currency than the merchant's
   * pays converted (capture locks the quote): its per-payment limit is then checked on the converted amount.
   */
  check(c: Capture): Merchant {
    const merchant = this.deps.registry.getMerchant(c.hub.merchantId);
    if (merchant.currency !== c.currency) {
      throw new TapwireError(`merchant ${merchant.merchantId} holds ${merchant.currency}, payment is in ${c.currency}`, ErrorCode.CurrencyMismatch);
    }
    if (c.wallet.currency === c.currency) checkLimit(c.wallet, c.amountMinor);
    return merchant;
  }

  /**
   * `merchant` is what check(c) returned, in this transaction. A payment some campaign qualifies for is
   * priced and posted in a savepoint, so the budget its discount took goes back with everything else if the
   * payment then fails (funds); one no campaign qualifies for posts as it always did.
   */
  capture(c: Capture, merchant: Merchant, nowMs: number): Verdict {
    if (this.deps.providers.providerOf(c.wallet.walletId) !== undefined) {
      throw new TapwireError(`wallet ${c.wallet.walletId} is a provider's: its payments are authorized by the provider first`, ErrorCode.ProviderUnavailable);
    }
    return this.captureInHouse(c, merchant, nowMs);
  }

  /**
   * capture() for a caller that has just found, in this transaction, that no provider holds the wallet (a hub's
   * payment asks that anyway, to choose between this and captureByProvider): the same post without reading it again.
   */
  captureInHouse(c: Capture, merchant: Merchant, nowMs: number): Verdict {
    const { campaigns, fx } = this.deps;
    if (c.wallet.currency !== c.currency) {
      const quote = fx.quote(`${c.hub.hubId}/${c.requestId}`, c.amountMinor, c.currency, c.wallet.currency, nowMs);
      checkLimit(c.wallet, quote.payerAmountMinor);
      return this.postConverted(c, merchant, walletAccountId(c.wallet.walletId), quote, nowMs);
    }
    const candidates = campaignPaymentModes.has(c.mode)
      ? campaigns.candidatesFor({ merchantId: merchant.merchantId, walletId: c.wallet.walletId, amountMinor: c.amountMinor, currency: c.currency }, nowMs)
      : [];
    if (candidates.length === 0) return this.post(c, merchant, noCampaign, nowMs);
    return this.savepoint(() => this.post(c, merchant, campaigns.price(candidates, c.wallet.walletId, nowMs), nowMs));
  }

  /**
   * Posts a payment its wallet's provider approved before the batch (provider-stage.ts), with the provider's signed
   * answer: `provider:<id>` pays, converted at the quote the provider approved when the merchant's currency differs.
   * Campaigns do not apply: the provider's approval is for exactly this amount.
   */
  captureByProvider(c: Capture, merchant: Merchant, approval: ProviderApproval, nowMs: number): Verdict {
    const payer = providerAccountId(approval.providerId);
    const reference = `${c.hub.hubId}/${c.requestId}`;
    // The stage asked about exactly this verified request: anything else here is a bug, not a provider's fault.
    const asked = approval.quote ? { minor: approval.quote.merchantAmountMinor, currency: approval.quote.merchantCurrency } : { minor: approval.amountMinor, currency: approval.currency };
    assert(asked.minor === c.amountMinor && asked.currency === c.currency, `provider approval for ${asked.minor} ${asked.currency}, payment is ${c.amountMinor} ${c.currency}`);
    checkLimit(c.wallet, approval.amountMinor);
    if (approval.quote) {
      const verdict = this.postConverted(c, merchant, payer, approval.quote, nowMs);
      this.recordApproval(c, approval, nowMs);
      return verdict;
    }
    const [paid] = this.deps.ledger.postLinked([
      { debitAccountId: payer, creditAccountId: merchantAccountId(merchant.merchantId), amountMinor: c.amountMinor, currency: c.currency, kind: "payment", reference },
    ]);
    assert(paid, "a provider payment posts its leg");
    const payment = this.insert(c, merchant, paid.transferId, nowMs);
    this.recordApproval(c, approval, nowMs);
    return approvedVerdict({ receipt: receiptOf(payment, c.amountMinor, paid.postedAtMs, undefined) });
  }

  private recordApproval(c: Capture, approval: ProviderApproval, nowMs: number): void {
    const payment = this.deps.store.findPayment(c.hub.hubId, c.requestId);
    assert(payment, "the provider payment was just inserted");
    const { authorizationId, providerId, amountMinor, currency, answerBytes } = approval;
    this.deps.providers.recordAuthorization({ authorizationId, paymentId: payment.paymentId, providerId, amountMinor, currency, answer: answerBytes }, nowMs);
  }

  /** A payment converted at a locked quote: the payer's currency into its FX position, the merchant's out of its own. */
  private postConverted(c: Capture, merchant: Merchant, payerAccountId: string, quote: FxQuote, nowMs: number): Verdict {
    const { ledger, fx } = this.deps;
    const reference = `${c.hub.hubId}/${c.requestId}`;
    const [, paid] = ledger.postLinked(fx.paymentLegs(quote, payerAccountId, merchant.merchantId, reference, ledger));
    assert(paid, "a converted payment posts its merchant leg");
    const payment = this.insert(c, merchant, paid.transferId, nowMs);
    fx.record(payment.paymentId, quote, payerAccountId, nowMs);
    return approvedVerdict({ receipt: receiptOf(payment, c.amountMinor, paid.postedAtMs, undefined), fx: quote });
  }

  private insert(c: Capture, merchant: Merchant, transferId: number, nowMs: number): PaymentRecord {
    return this.deps.store.insertPayment({
      hubId: c.hub.hubId,
      requestId: c.requestId,
      merchantId: merchant.merchantId,
      walletId: c.wallet.walletId,
      mode: c.mode,
      amountMinor: c.amountMinor,
      currency: c.currency,
      transferId,
      capturedAtMs: nowMs,
    });
  }

  /** The payment's legs (campaign-legs.ts) under one posting time, its record, and what the campaign gave it. */
  private post(c: Capture, merchant: Merchant, pricing: Pricing, nowMs: number): Verdict {
    const { ledger, store } = this.deps;
    const parties = { walletId: c.wallet.walletId, merchantId: merchant.merchantId, currency: c.currency, reference: `${c.hub.hubId}/${c.requestId}` };
    const [paid, discounted] = ledger.postLinked(paymentLegs(parties, c.amountMinor, pricing));
    assert(paid, "a payment posts its customer leg");
    const payment = this.insert(c, merchant, paid.transferId, nowMs);
    const campaign = this.deps.campaigns.record(payment.paymentId, c.wallet.walletId, pricing, discounted?.transferId, nowMs);
    const receipt = receiptOf(payment, c.amountMinor, paid.postedAtMs, campaign);
    if (pricing.outcome !== "exhausted") return approvedVerdict({ receipt });
    const stopped = pricing.stopped ? "; campaign stopped" : "";
    return { status: "approved", code: 0, reason: `approved at full price: campaign ${pricing.campaignId} budget exhausted${stopped}`, receipt };
  }
}

function checkLimit(wallet: Wallet, amountMinor: number): void {
  if (amountMinor > wallet.perPaymentMaxMinor) {
    throw new TapwireError(`amount ${amountMinor} above per-payment limit ${wallet.perPaymentMaxMinor}`, ErrorCode.LimitExceeded, { walletId: wallet.walletId });
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
