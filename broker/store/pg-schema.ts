import type { Migration } from "../ledger/sqlite-db.ts";
import { seqWindowBytes } from "../registry/seq-window.ts";

/**
 * The PostgreSQL schema of the shared store, versioned like the SQLite components (one counter, applied in order
 * exactly once, under an advisory lock: pg-migrate.ts). Table and column names are the SQLite ones, so the two
 * engines read alike; amounts and times are BIGINT (read back as safe integers, pg-data-store.ts).
 */
export const pgMigrations: readonly Migration[] = [
  {
    version: 1,
    description: "ledger, idempotency records, hub anti-replay windows, mandate budgets, consumed closed mandates",
    sql: `
      CREATE TABLE ledger_accounts (
        account_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('funding', 'wallet', 'merchant', 'campaign')),
        currency TEXT NOT NULL,
        balance_minor BIGINT NOT NULL DEFAULT 0,
        created_at_ms BIGINT NOT NULL,
        CHECK (kind = 'funding' OR balance_minor >= 0)
      );
      CREATE TABLE ledger_transfers (
        transfer_id BIGSERIAL PRIMARY KEY,
        debit_account_id TEXT NOT NULL REFERENCES ledger_accounts (account_id),
        credit_account_id TEXT NOT NULL REFERENCES ledger_accounts (account_id),
        amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
        currency TEXT NOT NULL,
        kind TEXT NOT NULL,
        reference TEXT NOT NULL,
        posted_at_ms BIGINT NOT NULL,
        CHECK (debit_account_id <> credit_account_id)
      );
      CREATE INDEX ledger_transfers_by_reference ON ledger_transfers (reference);
      CREATE TABLE ledger_postings (
        transfer_id BIGINT NOT NULL REFERENCES ledger_transfers (transfer_id),
        account_id TEXT NOT NULL REFERENCES ledger_accounts (account_id),
        amount_minor BIGINT NOT NULL CHECK (amount_minor <> 0),
        PRIMARY KEY (transfer_id, account_id)
      );
      CREATE INDEX ledger_postings_by_account ON ledger_postings (account_id, transfer_id);
      CREATE TABLE settlement_decisions (
        hub_id TEXT NOT NULL,
        principal_kind TEXT NOT NULL,
        request_id TEXT NOT NULL,
        body_hash BYTEA NOT NULL,
        request_type TEXT NOT NULL,
        status TEXT NOT NULL,
        code INTEGER NOT NULL,
        wallet_id TEXT,
        decision BYTEA NOT NULL,
        exp_ms BIGINT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        PRIMARY KEY (hub_id, request_id)
      );
      CREATE INDEX settlement_decisions_by_age ON settlement_decisions (created_at_ms);
      CREATE TABLE hub_seq_windows (
        hub_id TEXT PRIMARY KEY,
        top_seq BIGINT NOT NULL DEFAULT 0 CHECK (top_seq >= 0),
        seen_below BYTEA NOT NULL CHECK (length(seen_below) = ${seqWindowBytes})
      );
      CREATE TABLE mandate_budgets (
        mandate_id TEXT PRIMARY KEY,
        currency TEXT NOT NULL,
        budget_minor BIGINT NOT NULL CHECK (budget_minor > 0),
        spent_minor BIGINT NOT NULL DEFAULT 0,
        CHECK (spent_minor >= 0 AND spent_minor <= budget_minor)
      );
      CREATE TABLE agent_closed_mandates (
        closed_hash BYTEA PRIMARY KEY,
        agent_id TEXT NOT NULL,
        request_id TEXT NOT NULL,
        mandate_id TEXT NOT NULL,
        consumed_at_ms BIGINT NOT NULL
      );
    `,
  },
];
