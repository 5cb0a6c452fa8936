import type { SchemaComponent } from "../ledger/sqlite-db.ts";

/**
 * The FX rate table and the quotes payments were locked at. Rates are decimal text (never REAL) with their window
 * [from_ms, to_ms); a payment's quote keeps the rate it was converted at, so its refunds convert at that rate.
 */
export const fxSchema: SchemaComponent = {
  name: "fx",
  migrations: [
    {
      version: 1,
      description: "rate table and payment quotes",
      sql: `
        CREATE TABLE fx_rates (
          rate_id INTEGER PRIMARY KEY,
          base TEXT NOT NULL,
          quote TEXT NOT NULL,
          rate TEXT NOT NULL,
          rounding TEXT NOT NULL CHECK (rounding IN ('half_up', 'half_even')),
          source TEXT NOT NULL,
          from_ms INTEGER NOT NULL,
          to_ms INTEGER NOT NULL,
          loaded_at_ms INTEGER NOT NULL,
          CHECK (base <> quote AND to_ms > from_ms)
        ) STRICT;
        CREATE INDEX fx_rates_by_pair ON fx_rates (base, quote, from_ms);
        CREATE TABLE fx_payment_quotes (
          payment_id INTEGER PRIMARY KEY REFERENCES settlement_payments (payment_id),
          quote_id TEXT NOT NULL UNIQUE,
          rate TEXT NOT NULL,
          rounding TEXT NOT NULL,
          rate_source TEXT NOT NULL,
          merchant_currency TEXT NOT NULL,
          merchant_amount_minor INTEGER NOT NULL CHECK (merchant_amount_minor > 0),
          payer_currency TEXT NOT NULL,
          payer_amount_minor INTEGER NOT NULL CHECK (payer_amount_minor > 0),
          payer_account_id TEXT NOT NULL REFERENCES ledger_accounts (account_id),
          quoted_at_ms INTEGER NOT NULL
        ) STRICT;
      `,
    },
  ],
};
