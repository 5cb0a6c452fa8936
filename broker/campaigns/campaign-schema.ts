import type { SchemaComponent } from "../ledger/sqlite-db.ts";

/**
 * Campaigns and what they gave. The budget is guarded in SQL, not in memory: `spent_minor` only moves by a
 * single conditional UPDATE (`spent_minor + D <= budget_minor`), and the CHECK turns a bug that skipped it into
 * a failed transaction instead of an overspent campaign. Limits count in `campaign_counters` by a conditional
 * upsert per scope (`wallet:<id>`, `day:<n>`, `wallet-day:<id>:<n>`), so both hold on any store with row locks.
 * A redemption row per payment the campaign priced: its discount (0 when the budget could not cover it and
 * the payment went at full price) and how much of it came back through refunds and reversals.
 */
export const campaignSchema: SchemaComponent = {
  name: "campaigns",
  migrations: [
    {
      version: 1,
      description: "campaigns with a guarded budget, limit counters, redemptions",
      sql: `
        CREATE TABLE campaigns (
          campaign_id TEXT PRIMARY KEY,
          merchant_id TEXT REFERENCES registry_merchants (merchant_id),
          currency TEXT NOT NULL,
          rule_kind TEXT NOT NULL CHECK (rule_kind IN ('amount_off', 'percent')),
          off_minor INTEGER,
          percent_bps INTEGER,
          cap_minor INTEGER,
          budget_minor INTEGER NOT NULL CHECK (budget_minor > 0),
          spent_minor INTEGER NOT NULL DEFAULT 0 CHECK (spent_minor >= 0 AND spent_minor <= budget_minor),
          discounts_given INTEGER NOT NULL DEFAULT 0 CHECK (discounts_given >= 0),
          starts_at_ms INTEGER NOT NULL,
          ends_at_ms INTEGER NOT NULL CHECK (ends_at_ms > starts_at_ms),
          min_amount_minor INTEGER NOT NULL CHECK (min_amount_minor > 0),
          per_customer_max INTEGER NOT NULL CHECK (per_customer_max > 0),
          per_customer_per_day_max INTEGER CHECK (per_customer_per_day_max > 0),
          per_day_max INTEGER CHECK (per_day_max > 0),
          on_exhausted TEXT NOT NULL CHECK (on_exhausted IN ('full_price', 'stop')),
          status TEXT NOT NULL CHECK (status IN ('active', 'stopped')),
          defined_by TEXT NOT NULL,
          defined_at_ms INTEGER NOT NULL,
          stopped_by TEXT,
          stopped_at_ms INTEGER,
          stop_reason TEXT CHECK (stop_reason IN ('operator', 'budget_exhausted')),
          CHECK ((rule_kind = 'amount_off' AND off_minor > 0 AND percent_bps IS NULL AND cap_minor IS NULL)
              OR (rule_kind = 'percent' AND off_minor IS NULL AND percent_bps BETWEEN 1 AND 10000 AND cap_minor > 0)),
          CHECK ((status = 'active') = (stopped_at_ms IS NULL))
        ) STRICT;
        CREATE INDEX campaigns_qualifying ON campaigns (currency, status, campaign_id);
        CREATE TABLE campaign_counters (
          campaign_id TEXT NOT NULL REFERENCES campaigns (campaign_id),
          scope TEXT NOT NULL,
          used INTEGER NOT NULL CHECK (used >= 0),
          PRIMARY KEY (campaign_id, scope)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE campaign_redemptions (
          payment_id INTEGER PRIMARY KEY REFERENCES settlement_payments (payment_id),
          campaign_id TEXT NOT NULL REFERENCES campaigns (campaign_id),
          wallet_id TEXT NOT NULL,
          discount_minor INTEGER NOT NULL CHECK (discount_minor >= 0),
          returned_minor INTEGER NOT NULL DEFAULT 0 CHECK (returned_minor >= 0 AND returned_minor <= discount_minor),
          utc_day INTEGER NOT NULL,
          transfer_id INTEGER REFERENCES ledger_transfers (transfer_id),
          redeemed_at_ms INTEGER NOT NULL,
          CHECK ((discount_minor = 0) = (transfer_id IS NULL))
        ) STRICT;
        CREATE INDEX campaign_redemptions_by_campaign ON campaign_redemptions (campaign_id, payment_id);
      `,
    },
  ],
};
