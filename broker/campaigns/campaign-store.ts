import { assert } from "../../core/assert.ts";
import { StatementCache } from "../ledger/sqlite-db.ts";
import type { CampaignDefinition } from "./campaign-definition.ts";
import type { CampaignRule } from "./campaign-rules.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export type CampaignStatus = "active" | "stopped";
export type StopReason = "operator" | "budget_exhausted";

export interface CampaignRecord extends CampaignDefinition {
  spentMinor: number;
  /** budgetMinor − spentMinor: what the campaign account holds and may still give. */
  budgetLeftMinor: number;
  /** Discounts given so far, including any given back since. */
  discountsGiven: number;
  status: CampaignStatus;
  /** `operators/<name>`. */
  definedBy: string;
  definedAtMs: number;
  stoppedBy: string | undefined;
  stoppedAtMs: number | undefined;
  stopReason: StopReason | undefined;
}

export interface Redemption {
  paymentId: number;
  campaignId: string;
  walletId: string;
  /** 0: the campaign qualified but its budget could not cover the discount; the payment went at full price. */
  discountMinor: number;
  returnedMinor: number;
  utcDay: number;
  transferId: number | undefined;
  redeemedAtMs: number;
}

/** Largest number of campaigns one list returns. */
export const campaignListMax = 1_000;

interface CampaignRow {
  campaign_id: string;
  merchant_id: string | null;
  currency: string;
  rule_kind: CampaignRule["kind"];
  off_minor: number | null;
  percent_bps: number | null;
  cap_minor: number | null;
  budget_minor: number;
  spent_minor: number;
  discounts_given: number;
  starts_at_ms: number;
  ends_at_ms: number;
  min_amount_minor: number;
  per_customer_max: number;
  per_customer_per_day_max: number | null;
  per_day_max: number | null;
  on_exhausted: CampaignDefinition["onExhausted"];
  status: CampaignStatus;
  defined_by: string;
  defined_at_ms: number;
  stopped_by: string | null;
  stopped_at_ms: number | null;
  stop_reason: StopReason | null;
}

interface RedemptionRow {
  payment_id: number;
  campaign_id: string;
  wallet_id: string;
  discount_minor: number;
  returned_minor: number;
  utc_day: number;
  transfer_id: number | null;
  redeemed_at_ms: number;
}

const campaignColumns = `campaign_id, merchant_id, currency, rule_kind, off_minor, percent_bps, cap_minor, budget_minor, spent_minor,
  discounts_given, starts_at_ms, ends_at_ms, min_amount_minor, per_customer_max, per_customer_per_day_max, per_day_max, on_exhausted,
  status, defined_by, defined_at_ms, stopped_by, stopped_at_ms, stop_reason`;
const redemptionColumns = "payment_id, campaign_id, wallet_id, discount_minor, returned_minor, utc_day, transfer_id, redeemed_at_ms";

function ruleOf(r: CampaignRow): CampaignRule {
  if (r.rule_kind === "amount_off") {
    assert(r.off_minor !== null, `campaign ${r.campaign_id} has no offMinor`);
    return { kind: "amount_off", offMinor: r.off_minor };
  }
  assert(r.percent_bps !== null && r.cap_minor !== null, `campaign ${r.campaign_id} has no percent or cap`);
  return { kind: "percent", percentBps: r.percent_bps, capMinor: r.cap_minor };
}

const toCampaign = (r: CampaignRow): CampaignRecord => ({
  campaignId: r.campaign_id,
  merchantId: r.merchant_id ?? undefined,
  currency: r.currency,
  rule: ruleOf(r),
  budgetMinor: r.budget_minor,
  startsAtMs: r.starts_at_ms,
  endsAtMs: r.ends_at_ms,
  minAmountMinor: r.min_amount_minor,
  perCustomerMax: r.per_customer_max,
  perCustomerPerDayMax: r.per_customer_per_day_max ?? undefined,
  perDayMax: r.per_day_max ?? undefined,
  onExhausted: r.on_exhausted,
  spentMinor: r.spent_minor,
  budgetLeftMinor: r.budget_minor - r.spent_minor,
  discountsGiven: r.discounts_given,
  status: r.status,
  definedBy: r.defined_by,
  definedAtMs: r.defined_at_ms,
  stoppedBy: r.stopped_by ?? undefined,
  stoppedAtMs: r.stopped_at_ms ?? undefined,
  stopReason: r.stop_reason ?? undefined,
});

const toRedemption = (r: RedemptionRow): Redemption => ({
  paymentId: r.payment_id,
  campaignId: r.campaign_id,
  walletId: r.wallet_id,
  discountMinor: r.discount_minor,
  returnedMinor: r.returned_minor,
  utcDay: r.utc_day,
  transferId: r.transfer_id ?? undefined,
  redeemedAtMs: r.redeemed_at_ms,
});

/**
 * The campaign tables, statement by statement. Callers hold the transaction. Every write that spends or
 * counts is one conditional statement whose `changes` says whether it happened: nothing here reads a value
 * and writes it back.
 */
export class CampaignStore {
  private readonly statements: StatementCache;

  constructor(db: SqlDb) {
    this.statements = new StatementCache(db);
  }

  insert(d: CampaignDefinition, definedBy: string, nowMs: number): void {
    const offMinor = d.rule.kind === "amount_off" ? d.rule.offMinor : null;
    const [percentBps, capMinor] = d.rule.kind === "percent" ? [d.rule.percentBps, d.rule.capMinor] : [null, null];
    this.statements
      .sql(
        `INSERT INTO campaigns (campaign_id, merchant_id, currency, rule_kind, off_minor, percent_bps, cap_minor, budget_minor, starts_at_ms,
           ends_at_ms, min_amount_minor, per_customer_max, per_customer_per_day_max, per_day_max, on_exhausted, status, defined_by, defined_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)`,
      )
      .run(
        d.campaignId,
        d.merchantId ?? null,
        d.currency,
        d.rule.kind,
        offMinor,
        percentBps,
        capMinor,
        d.budgetMinor,
        d.startsAtMs,
        d.endsAtMs,
        d.minAmountMinor,
        d.perCustomerMax,
        d.perCustomerPerDayMax ?? null,
        d.perDayMax ?? null,
        d.onExhausted,
        definedBy,
        nowMs,
      );
  }

  find(campaignId: string): CampaignRecord | undefined {
    const row = this.statements.sql<[string], CampaignRow>(`SELECT ${campaignColumns} FROM campaigns WHERE campaign_id = ?`).get(campaignId);
    return row ? toCampaign(row) : undefined;
  }

  /** By campaign id; of one merchant (its own campaigns, not the operator's), or all. */
  list(filter: { merchantId?: string | undefined; limit: number }): CampaignRecord[] {
    assert(Number.isSafeInteger(filter.limit) && filter.limit > 0 && filter.limit <= campaignListMax, `limit ${filter.limit}`);
    if (filter.merchantId === undefined) {
      return this.statements.sql<[number], CampaignRow>(`SELECT ${campaignColumns} FROM campaigns ORDER BY campaign_id LIMIT ?`).all(filter.limit).map(toCampaign);
    }
    return this.statements
      .sql<[string, number], CampaignRow>(`SELECT ${campaignColumns} FROM campaigns WHERE merchant_id = ? ORDER BY campaign_id LIMIT ?`)
      .all(filter.merchantId, filter.limit)
      .map(toCampaign);
  }

  /** Active campaigns in the currency whose window has not ended by nowMs. */
  openCount(currency: string, nowMs: number): number {
    return (
      this.statements
        .sql<[string, number], number>("SELECT COUNT(*) FROM campaigns WHERE currency = ? AND status = 'active' AND ends_at_ms > ?")
        .pluck()
        .get(currency, nowMs) ?? 0
    );
  }

  /** Active campaigns a payment falls under (merchant or operator-wide, currency, window, minimum), by id. */
  qualifying(p: { merchantId: string; currency: string; amountMinor: number; nowMs: number }, limit: number): CampaignRecord[] {
    // Every payment asks this. The limit is part of the text, not a bound parameter: SQLite plans with a bound LIMIT's
    // value, so each new binding re-prepares the statement (≈ 50 µs here, 20 times the query on an empty table).
    assert(Number.isSafeInteger(limit) && limit > 0, `campaign limit ${limit} is not a positive integer`);
    return this.statements
      .sql<[string, string, number, number, number], CampaignRow>(
        `SELECT ${campaignColumns} FROM campaigns
         WHERE currency = ? AND status = 'active' AND (merchant_id IS NULL OR merchant_id = ?)
           AND starts_at_ms <= ? AND ends_at_ms > ? AND min_amount_minor <= ?
         ORDER BY campaign_id LIMIT ${limit}`,
      )
      .all(p.currency, p.merchantId, p.nowMs, p.nowMs, p.amountMinor)
      .map(toCampaign);
  }

  /** Spends discountMinor of an active campaign's budget if it fits; false (nothing spent) when it does not. */
  spend(campaignId: string, discountMinor: number): boolean {
    return (
      this.statements
        .sql<[number, string, number]>(
          `UPDATE campaigns SET spent_minor = spent_minor + ?, discounts_given = discounts_given + 1
           WHERE campaign_id = ? AND status = 'active' AND spent_minor + ? <= budget_minor`,
        )
        .run(discountMinor, campaignId, discountMinor).changes === 1
    );
  }

  /** A discount given back: the budget may spend it again. */
  unspend(campaignId: string, returnedMinor: number): void {
    const result = this.statements
      .sql<[number, string, number]>("UPDATE campaigns SET spent_minor = spent_minor - ? WHERE campaign_id = ? AND spent_minor >= ?")
      .run(returnedMinor, campaignId, returnedMinor);
    assert(result.changes === 1, `campaign ${campaignId} spent less than the ${returnedMinor} given back`);
  }

  /** Counts one use of `scope` if it stays within usedMax; false (nothing counted) when it would not. */
  countUse(campaignId: string, scope: string, usedMax: number): boolean {
    return (
      this.statements
        .sql<[string, string, number]>(
          `INSERT INTO campaign_counters (campaign_id, scope, used) VALUES (?, ?, 1)
           ON CONFLICT (campaign_id, scope) DO UPDATE SET used = campaign_counters.used + 1 WHERE campaign_counters.used < ?`,
        )
        .run(campaignId, scope, usedMax).changes === 1
    );
  }

  releaseUse(campaignId: string, scope: string): void {
    const result = this.statements
      .sql<[string, string]>("UPDATE campaign_counters SET used = used - 1 WHERE campaign_id = ? AND scope = ? AND used > 0")
      .run(campaignId, scope);
    assert(result.changes === 1, `campaign ${campaignId} has no use of ${scope} to release`);
  }

  usesOf(campaignId: string, scope: string): number {
    return this.statements.sql<[string, string], number>("SELECT used FROM campaign_counters WHERE campaign_id = ? AND scope = ?").pluck().get(campaignId, scope) ?? 0;
  }

  /** Stops an active campaign; undefined when it is unknown or already stopped. */
  stop(campaignId: string, stoppedBy: string, reason: StopReason, nowMs: number): CampaignRecord | undefined {
    const row = this.statements
      .sql<[string, number, string, string], CampaignRow>(
        `UPDATE campaigns SET status = 'stopped', stopped_by = ?, stopped_at_ms = ?, stop_reason = ?
         WHERE campaign_id = ? AND status = 'active' RETURNING ${campaignColumns}`,
      )
      .get(stoppedBy, nowMs, reason, campaignId);
    return row ? toCampaign(row) : undefined;
  }

  insertRedemption(r: Omit<Redemption, "returnedMinor">): void {
    this.statements
      .sql(`INSERT INTO campaign_redemptions (${redemptionColumns}) VALUES (?, ?, ?, ?, 0, ?, ?, ?)`)
      .run(r.paymentId, r.campaignId, r.walletId, r.discountMinor, r.utcDay, r.transferId ?? null, r.redeemedAtMs);
  }

  redemptionOf(paymentId: number): Redemption | undefined {
    const row = this.statements.sql<[number], RedemptionRow>(`SELECT ${redemptionColumns} FROM campaign_redemptions WHERE payment_id = ?`).get(paymentId);
    return row ? toRedemption(row) : undefined;
  }

  /** Records part of a discount given back; the CHECK and the guard keep it within the discount. */
  addReturned(paymentId: number, returnedMinor: number): void {
    const result = this.statements
      .sql<[number, number, number]>(
        "UPDATE campaign_redemptions SET returned_minor = returned_minor + ? WHERE payment_id = ? AND returned_minor + ? <= discount_minor",
      )
      .run(returnedMinor, paymentId, returnedMinor);
    assert(result.changes === 1, `payment ${paymentId} gives back ${returnedMinor} beyond its discount`);
  }
}
