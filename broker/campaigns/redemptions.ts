import { assert } from "../../core/assert.ts";
import { encodeBody } from "../../protocol/cbor.ts";
import { logger } from "../../core/log.ts";
import type { EvidenceStore } from "../evidence/evidence-store.ts";
import { campaignShareOf, discountFor, utcDayOf } from "./campaign-rules.ts";
import type { CampaignRecord, CampaignStore } from "./campaign-store.ts";
import type { SqlDb } from "../../core/sql-db.ts";

const log = logger("tapwire:campaigns");

/**
 * Which payments campaigns price: a person paying online at a hub (reader, tag, glasses), so the discount is
 * decided while the customer waits. Not offline captures: their price was fixed at the sale, when no budget
 * could be taken, and their capture time is the hub's word. Not agent or direct payments: an agent pays what its
 * mandate allows for the listed price.
 */
export const campaignPaymentModes: ReadonlySet<string> = new Set(["reader", "tag", "glasses"]);

/** Campaigns one payment is checked against; defining more open ones in a currency is refused (LimitExceeded). */
export const qualifyingCampaignsMax = 32;

export const settlementPrincipal = "services/settlement";

export interface PaymentToPrice {
  merchantId: string;
  walletId: string;
  amountMinor: number;
  currency: string;
}

export type Pricing =
  | { outcome: "none" }
  | { outcome: "discounted"; campaignId: string; discountMinor: number; utcDay: number }
  /** A campaign qualified but its budget left could not cover the discount: full price. */
  | { outcome: "exhausted"; campaignId: string; stopped: boolean };

export const noCampaign: Pricing = { outcome: "none" };

/** What a receipt says about a campaign: the discount (0 when the budget was exhausted) and which campaign. */
export interface CampaignPart {
  campaignId: string;
  discountMinor: number;
}

/** The campaign's share of money a refund or reversal gives back. */
export interface GiveBack {
  campaignId: string;
  shareMinor: number;
}

/** A campaign a payment qualifies for, with the discount it would give. */
export interface Candidate {
  campaign: CampaignRecord;
  discountMinor: number;
}

type Attempt = "redeemed" | "limited" | "exhausted";

class Refusal extends Error {
  constructor(readonly attempt: Exclude<Attempt, "redeemed">) {
    super(attempt);
  }
}

/** The limit counters one discount takes: the customer's, the customer's day, the campaign's day. */
function limitScopes(c: CampaignRecord, walletId: string, utcDay: number): Array<[scope: string, usedMax: number]> {
  const scopes: Array<[string, number]> = [[`wallet/${walletId}`, c.perCustomerMax]];
  if (c.perCustomerPerDayMax !== undefined) scopes.push([`wallet/${walletId}/day/${utcDay}`, c.perCustomerPerDayMax]);
  if (c.perDayMax !== undefined) scopes.push([`day/${utcDay}`, c.perDayMax]);
  return scopes;
}

/**
 * Takes and gives back campaign discounts inside the settlement transaction.
 *
 * Which campaign: of the active ones whose merchant (or every merchant), currency, window (the batch's clock)
 * and minimum amount the payment meets, the one giving the largest discount, ties to the smallest campaign id.
 * If its limits are used up for this customer or day, the next; if its budget left is below the discount, the
 * payment is marked exhausted for it (and a `stop` campaign stops) and the next is tried. Each attempt is a
 * savepoint: the limit counts and the guarded budget UPDATE happen together or not at all.
 */
export class CampaignRedemptions {
  private readonly redeemAtomically: (campaign: CampaignRecord, discountMinor: number, walletId: string, utcDay: number) => void;

  constructor(private readonly deps: { db: SqlDb; store: CampaignStore; evidence: EvidenceStore }) {
    this.redeemAtomically = deps.db.transaction((campaign: CampaignRecord, discountMinor: number, walletId: string, utcDay: number) =>
      this.redeem(campaign, discountMinor, walletId, utcDay),
    );
  }

  /** The campaigns a payment qualifies for, best first; reads only, so a payment with none costs one indexed query. */
  candidatesFor(payment: PaymentToPrice, nowMs: number): Candidate[] {
    return (
      this.deps.store
        .qualifying({ ...payment, nowMs }, qualifyingCampaignsMax)
        .map((campaign) => ({ campaign, discountMinor: discountFor(campaign.rule, payment.amountMinor) }))
        .filter((candidate) => candidate.discountMinor > 0)
        // Stable: equal discounts stay in campaign id order.
        .sort((a, b) => b.discountMinor - a.discountMinor)
    );
  }

  /**
   * Takes the discount of the first candidate whose limits and budget allow it. The caller holds a savepoint
   * around this and the payment's posting, so all of it goes if the payment then fails.
   */
  price(candidates: readonly Candidate[], walletId: string, nowMs: number): Pricing {
    const utcDay = utcDayOf(nowMs);
    let exhausted: Pricing | undefined;
    for (const { campaign, discountMinor } of candidates) {
      const attempt = this.attempt(campaign, discountMinor, walletId, utcDay);
      if (attempt === "redeemed") return { outcome: "discounted", campaignId: campaign.campaignId, discountMinor, utcDay };
      if (attempt === "exhausted") {
        const stopped = campaign.onExhausted === "stop" && this.stopExhausted(campaign.campaignId, nowMs);
        exhausted ??= { outcome: "exhausted", campaignId: campaign.campaignId, stopped };
      }
    }
    return exhausted ?? noCampaign;
  }

  /** Records what pricing gave the payment, once it exists; `transferId` is the campaign's leg of a discount. */
  record(paymentId: number, walletId: string, pricing: Pricing, transferId: number | undefined, nowMs: number): CampaignPart | undefined {
    if (pricing.outcome === "none") return undefined;
    const discountMinor = pricing.outcome === "discounted" ? pricing.discountMinor : 0;
    assert((discountMinor > 0) === (transferId !== undefined), `payment ${paymentId}: a discount has a transfer and only a discount does`);
    this.deps.store.insertRedemption({
      paymentId,
      campaignId: pricing.campaignId,
      walletId,
      discountMinor,
      utcDay: pricing.outcome === "discounted" ? pricing.utcDay : utcDayOf(nowMs),
      transferId,
      redeemedAtMs: nowMs,
    });
    return { campaignId: pricing.campaignId, discountMinor };
  }

  /** The campaign part of a payment's own receipt, as its capture said it. */
  partOf(paymentId: number): CampaignPart | undefined {
    const redemption = this.deps.store.redemptionOf(paymentId);
    return redemption && { campaignId: redemption.campaignId, discountMinor: redemption.discountMinor };
  }

  /**
   * The campaign's share of `givingMinor` given back on a payment of amountMinor after givenBeforeMinor
   * (campaign-rules.ts campaignShareOf); undefined for a payment without a discount.
   */
  shareOf(paymentId: number, amountMinor: number, givenBeforeMinor: number, givingMinor: number): GiveBack | undefined {
    const redemption = this.deps.store.redemptionOf(paymentId);
    if (!redemption || redemption.discountMinor === 0) return undefined;
    return { campaignId: redemption.campaignId, shareMinor: campaignShareOf(redemption.discountMinor, amountMinor, givenBeforeMinor, givingMinor) };
  }

  /**
   * After the share was posted back to the campaign account: the budget may spend it again, and once the whole
   * discount is back (a reversal, or refunds of the whole amount) the customer's and the day's uses are freed.
   */
  settleGiveBack(paymentId: number, back: GiveBack): void {
    if (back.shareMinor === 0) return;
    const { store } = this.deps;
    const redemption = store.redemptionOf(paymentId);
    assert(redemption && redemption.campaignId === back.campaignId, `payment ${paymentId} was discounted by ${back.campaignId}`);
    store.addReturned(paymentId, back.shareMinor);
    store.unspend(back.campaignId, back.shareMinor);
    if (redemption.returnedMinor + back.shareMinor < redemption.discountMinor) return;
    const campaign = store.find(back.campaignId);
    assert(campaign, `campaign ${back.campaignId} of payment ${paymentId} exists`);
    for (const [scope] of limitScopes(campaign, redemption.walletId, redemption.utcDay)) store.releaseUse(back.campaignId, scope);
  }

  private attempt(campaign: CampaignRecord, discountMinor: number, walletId: string, utcDay: number): Attempt {
    try {
      this.redeemAtomically(campaign, discountMinor, walletId, utcDay);
      return "redeemed";
    } catch (error) {
      if (error instanceof Refusal) return error.attempt;
      throw error;
    }
  }

  /** Throws a Refusal, which rolls back this attempt's savepoint, when a limit or the budget says no. */
  private redeem(campaign: CampaignRecord, discountMinor: number, walletId: string, utcDay: number): void {
    const { store } = this.deps;
    for (const [scope, usedMax] of limitScopes(campaign, walletId, utcDay)) {
      if (!store.countUse(campaign.campaignId, scope, usedMax)) throw new Refusal("limited");
    }
    if (!store.spend(campaign.campaignId, discountMinor)) throw new Refusal("exhausted");
  }

  private stopExhausted(campaignId: string, nowMs: number): boolean {
    const stopped = this.deps.store.stop(campaignId, settlementPrincipal, "budget_exhausted", nowMs);
    if (!stopped) return false;
    const change = encodeBody({ type: "campaign_stop", campaignId, by: settlementPrincipal, reason: "budget_exhausted", atMs: nowMs });
    this.deps.evidence.append("operator", settlementPrincipal, campaignId, change, nowMs);
    log.info({ campaignId, spentMinor: stopped.spentMinor, budgetMinor: stopped.budgetMinor }, "campaign stopped: budget exhausted");
    return true;
  }
}
