import type { SchemaComponent } from "../ledger/sqlite-db.ts";

/**
 * Agents (their enrolled MQTT identity), the open mandates people registered for them, every closed mandate
 * consumed (by the hash of its bytes, so a copy is refused), and the payments agents made. `spent_minor` is
 * checked and moved in the same statement as the budget test, inside the settlement transaction.
 */
export const agentSchema: SchemaComponent = {
  name: "agents",
  migrations: [
    {
      version: 1,
      description: "agents, open mandates, consumed closed mandates, agent payments",
      sql: `
        CREATE TABLE agents (
          agent_id TEXT PRIMARY KEY,
          public_key_pem TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
          certificate_serial TEXT NOT NULL,
          enrolled_at_ms INTEGER NOT NULL,
          revoked_at_ms INTEGER
        ) STRICT;
        CREATE TABLE agent_mandates (
          mandate_id TEXT PRIMARY KEY,
          wallet_id TEXT NOT NULL REFERENCES registry_wallets (wallet_id),
          agent_id TEXT NOT NULL,
          agent_key BLOB NOT NULL,
          per_payment_max_minor INTEGER NOT NULL CHECK (per_payment_max_minor > 0),
          budget_minor INTEGER NOT NULL CHECK (budget_minor > 0),
          spent_minor INTEGER NOT NULL DEFAULT 0,
          currency TEXT NOT NULL,
          allowed_merchants TEXT NOT NULL,
          allowed_categories TEXT NOT NULL,
          step_up_above_minor INTEGER,
          not_before_ms INTEGER NOT NULL,
          expires_at_ms INTEGER NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
          mandate BLOB NOT NULL,
          mandate_hash BLOB NOT NULL,
          registered_at_ms INTEGER NOT NULL,
          revoked_at_ms INTEGER,
          CHECK (spent_minor >= 0 AND spent_minor <= budget_minor)
        ) STRICT;
        CREATE INDEX agent_mandates_by_wallet ON agent_mandates (wallet_id);
        CREATE TABLE agent_closed_mandates (
          closed_hash BLOB PRIMARY KEY,
          agent_id TEXT NOT NULL,
          request_id TEXT NOT NULL,
          mandate_id TEXT NOT NULL,
          consumed_at_ms INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE agent_payments (
          payment_id INTEGER PRIMARY KEY,
          agent_id TEXT NOT NULL,
          request_id TEXT NOT NULL,
          mandate_id TEXT NOT NULL REFERENCES agent_mandates (mandate_id),
          merchant_id TEXT NOT NULL REFERENCES registry_merchants (merchant_id),
          wallet_id TEXT NOT NULL REFERENCES registry_wallets (wallet_id),
          category TEXT NOT NULL,
          amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
          currency TEXT NOT NULL,
          refunded_minor INTEGER NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
          transfer_id INTEGER NOT NULL REFERENCES ledger_transfers (transfer_id),
          captured_at_ms INTEGER NOT NULL,
          UNIQUE (agent_id, request_id)
        ) STRICT;
        CREATE INDEX agent_payments_by_mandate ON agent_payments (mandate_id, merchant_id);
      `,
    },
  ],
};
