import type { SchemaComponent } from "../ledger/sqlite-db.ts";

/**
 * Clearing: each merchant's fee schedule and payee account, the operator's paying account (the debtor of every
 * pain.001), and one row per (merchant, UTC day) cleared, with the transfers it netted, the transfers it posted and
 * the dispute holds it took or released. The UNIQUE (merchant_id, business_date) is what makes a rerun post nothing;
 * a transfer is netted by one run only (its PRIMARY KEY in clearing_run_transfers).
 */
export const clearingSchema: SchemaComponent = {
  name: "clearing",
  migrations: [
    {
      version: 1,
      description: "fee schedules, payees, debtor account, clearing runs with their transfers and dispute holds",
      sql: `
        CREATE TABLE clearing_fees (
          merchant_id TEXT PRIMARY KEY,
          bps INTEGER NOT NULL CHECK (bps BETWEEN 0 AND 10000),
          fixed_minor INTEGER NOT NULL CHECK (fixed_minor >= 0),
          updated_at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE clearing_payees (
          merchant_id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          iban TEXT NOT NULL,
          bic TEXT NOT NULL,
          updated_at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE clearing_debtor (
          singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
          name TEXT NOT NULL,
          iban TEXT NOT NULL,
          bic TEXT NOT NULL,
          updated_at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE clearing_runs (
          run_id INTEGER PRIMARY KEY,
          merchant_id TEXT NOT NULL,
          business_date TEXT NOT NULL,
          currency TEXT NOT NULL,
          outcome TEXT NOT NULL CHECK (outcome IN ('paid', 'negative_net')),
          figures TEXT NOT NULL,
          payee TEXT,
          debtor TEXT,
          fee_transfer_id INTEGER REFERENCES ledger_transfers (transfer_id),
          payout_transfer_id INTEGER REFERENCES ledger_transfers (transfer_id),
          absorbed_by_run_id INTEGER REFERENCES clearing_runs (run_id),
          created_at_ms INTEGER NOT NULL,
          UNIQUE (merchant_id, business_date)
        ) STRICT;
        CREATE INDEX clearing_runs_carried ON clearing_runs (merchant_id, outcome, absorbed_by_run_id);
        CREATE TABLE clearing_run_transfers (
          transfer_id INTEGER PRIMARY KEY REFERENCES ledger_transfers (transfer_id),
          run_id INTEGER NOT NULL REFERENCES clearing_runs (run_id),
          role TEXT NOT NULL CHECK (role IN ('netted', 'fee', 'payout'))
        ) STRICT;
        CREATE INDEX clearing_run_transfers_by_run ON clearing_run_transfers (run_id, transfer_id);
        CREATE TABLE clearing_holds (
          case_id TEXT PRIMARY KEY,
          merchant_id TEXT NOT NULL,
          payment_id TEXT NOT NULL,
          amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
          held_by_run_id INTEGER NOT NULL REFERENCES clearing_runs (run_id),
          released_by_run_id INTEGER REFERENCES clearing_runs (run_id)
        ) STRICT;
        CREATE INDEX clearing_holds_open ON clearing_holds (merchant_id, released_by_run_id);
      `,
    },
  ],
};
