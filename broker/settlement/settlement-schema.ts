import type { SchemaComponent } from "../ledger/sqlite-db.ts";

/**
 * Decisions double as the idempotency records: (hub_id, request_id) → body hash and the exact signed bytes.
 * Payments, refunds, voids, consumed tag nonces, batch reports, offline captures and losses sit beside them so
 * one transaction covers a request, its postings and its answer.
 */
/** The decisions' columns as migration 1 made them (migration 4 adds principal_kind); migration 5 rebuilds the table with them. */
const decisionColumnsV1 = `hub_id TEXT NOT NULL,
          request_id TEXT NOT NULL,
          body_hash BLOB NOT NULL,
          request_type TEXT NOT NULL,
          status TEXT NOT NULL,
          code INTEGER NOT NULL,
          wallet_id TEXT,
          decision BLOB NOT NULL,
          exp_ms INTEGER NOT NULL,
          created_at_ms INTEGER NOT NULL,`;

export const settlementSchema: SchemaComponent = {
  name: "settlement",
  migrations: [
    {
      version: 1,
      description: "decisions, payments, refunds, voids, nonces, batch reports",
      sql: `
        CREATE TABLE settlement_decisions (
          ${decisionColumnsV1}
          PRIMARY KEY (hub_id, request_id)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE settlement_payments (
          payment_id INTEGER PRIMARY KEY,
          hub_id TEXT NOT NULL REFERENCES registry_hubs (hub_id),
          request_id TEXT NOT NULL,
          merchant_id TEXT NOT NULL REFERENCES registry_merchants (merchant_id),
          wallet_id TEXT NOT NULL REFERENCES registry_wallets (wallet_id),
          mode TEXT NOT NULL,
          amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
          currency TEXT NOT NULL,
          refunded_minor INTEGER NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
          status TEXT NOT NULL CHECK (status IN ('captured', 'reversed')),
          batch_id TEXT,
          transfer_id INTEGER NOT NULL REFERENCES ledger_transfers (transfer_id),
          captured_at_ms INTEGER NOT NULL,
          reversed_at_ms INTEGER,
          UNIQUE (hub_id, request_id)
        ) STRICT;
        CREATE INDEX settlement_payments_by_merchant ON settlement_payments (merchant_id, request_id);
        CREATE INDEX settlement_payments_unbatched ON settlement_payments (hub_id, currency, batch_id, status);
        CREATE TABLE settlement_refunds (
          refund_id INTEGER PRIMARY KEY,
          payment_id INTEGER NOT NULL REFERENCES settlement_payments (payment_id),
          hub_id TEXT NOT NULL,
          request_id TEXT NOT NULL,
          amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
          transfer_id INTEGER NOT NULL REFERENCES ledger_transfers (transfer_id),
          refunded_at_ms INTEGER NOT NULL,
          UNIQUE (hub_id, request_id)
        ) STRICT;
        CREATE INDEX settlement_refunds_by_payment ON settlement_refunds (payment_id);
        CREATE TABLE settlement_voids (
          hub_id TEXT NOT NULL,
          request_id TEXT NOT NULL,
          reversal_request_id TEXT NOT NULL,
          voided_at_ms INTEGER NOT NULL,
          PRIMARY KEY (hub_id, request_id)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE settlement_nonces (
          hub_id TEXT NOT NULL,
          nonce BLOB NOT NULL,
          offer_id TEXT NOT NULL,
          wallet_id TEXT NOT NULL,
          consumed_at_ms INTEGER NOT NULL,
          PRIMARY KEY (hub_id, nonce)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE settlement_batch_reports (
          hub_id TEXT NOT NULL,
          batch_id TEXT NOT NULL,
          merchant_id TEXT NOT NULL,
          currency TEXT NOT NULL,
          request_id TEXT NOT NULL,
          hub_count INTEGER NOT NULL,
          hub_total_minor INTEGER NOT NULL,
          service_count INTEGER NOT NULL,
          service_total_minor INTEGER NOT NULL,
          matched INTEGER NOT NULL CHECK (matched IN (0, 1)),
          closed_at_ms INTEGER NOT NULL,
          PRIMARY KEY (hub_id, batch_id)
        ) STRICT, WITHOUT ROWID;
      `,
    },
    {
      version: 2,
      description: "idempotency records and nonces by age, for pruning in bounded steps",
      sql: `
        CREATE INDEX settlement_decisions_by_age ON settlement_decisions (created_at_ms);
        CREATE INDEX settlement_nonces_by_age ON settlement_nonces (consumed_at_ms);
      `,
    },
    {
      version: 3,
      description: "offline captures (hub capture time, for the sliding-window floor check) and merchants' offline losses",
      // Books, like payments: never pruned. A loss has its own id because a capture forwarded again after its
      // decision was pruned is declined again, and that decline is recorded too.
      sql: `
        CREATE TABLE settlement_offline_captures (
          hub_id TEXT NOT NULL,
          request_id TEXT NOT NULL,
          amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
          captured_at_ms INTEGER NOT NULL,
          forwarded_at_ms INTEGER NOT NULL,
          PRIMARY KEY (hub_id, request_id),
          FOREIGN KEY (hub_id, request_id) REFERENCES settlement_payments (hub_id, request_id)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX settlement_offline_captures_by_time ON settlement_offline_captures (hub_id, captured_at_ms);
        CREATE TABLE settlement_offline_losses (
          loss_id INTEGER PRIMARY KEY,
          hub_id TEXT NOT NULL REFERENCES registry_hubs (hub_id),
          request_id TEXT NOT NULL,
          merchant_id TEXT NOT NULL REFERENCES registry_merchants (merchant_id),
          wallet_id TEXT NOT NULL,
          amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
          currency TEXT NOT NULL,
          code INTEGER NOT NULL CHECK (code > 0),
          reason TEXT NOT NULL,
          captured_at_ms INTEGER NOT NULL,
          recorded_at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX settlement_offline_losses_by_merchant ON settlement_offline_losses (merchant_id, loss_id);
      `,
    },
    {
      version: 4,
      description: "who sent each decided request (hub, wallet, agent), instead of telling it by a '/' in the key",
      sql: `
        ALTER TABLE settlement_decisions ADD COLUMN principal_kind TEXT NOT NULL DEFAULT 'hub' CHECK (principal_kind IN ('hub', 'wallet', 'agent'));
        UPDATE settlement_decisions SET principal_kind = CASE
          WHEN hub_id LIKE 'agents/%' THEN 'agent'
          WHEN hub_id LIKE 'wallets/%' OR wallet_id IS NOT NULL THEN 'wallet'
          ELSE 'hub' END;
      `,
    },
    {
      version: 5,
      description: "decisions in a rowid table with a unique (hub_id, request_id) index, instead of WITHOUT ROWID",
      // A decision row carries its signed bytes (~390 of ~480 bytes): WITHOUT ROWID keeps whole rows in the key's
      // b-tree, eight to a leaf, so each insert lands on a random leaf of large cells. In a rowid table the row is
      // appended and only the ~30-byte key goes into the index: 22 -> 11.5 µs an insert in a 16-row transaction
      // (80,000 decisions from 32 hubs; SQLite's own advice is WITHOUT ROWID for rows under ~1/20 of a page).
      // Same columns in the same order, same constraint on the key; rows copied as they are.
      sql: `
        CREATE TABLE settlement_decisions_rowid (
          ${decisionColumnsV1}
          principal_kind TEXT NOT NULL DEFAULT 'hub' CHECK (principal_kind IN ('hub', 'wallet', 'agent')),
          UNIQUE (hub_id, request_id)
        ) STRICT;
        INSERT INTO settlement_decisions_rowid SELECT hub_id, request_id, body_hash, request_type, status, code, wallet_id, decision, exp_ms, created_at_ms, principal_kind
          FROM settlement_decisions ORDER BY created_at_ms;
        DROP TABLE settlement_decisions;
        ALTER TABLE settlement_decisions_rowid RENAME TO settlement_decisions;
        CREATE INDEX settlement_decisions_by_age ON settlement_decisions (created_at_ms);
      `,
      // A PostgreSQL table is a heap beside its primary-key index already: nothing to rebuild.
      postgres: "SELECT 1",
    },
  ],
};
