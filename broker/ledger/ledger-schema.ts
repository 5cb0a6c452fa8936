import type { SchemaComponent } from "./sqlite-db.ts";

/**
 * Balances are kept on the account row (one read to authorize a payment) and also as postings, two per
 * transfer, so checkInvariants can prove the cached balance against the history. The CHECK constraints are a
 * second line behind the typed checks in postTransfer: they turn a bug into a failed transaction, never into
 * a negative wallet.
 */
export const ledgerSchema: SchemaComponent = {
  name: "ledger",
  migrations: [
    {
      version: 1,
      description: "accounts, transfers, postings",
      sql: `
        CREATE TABLE ledger_accounts (
          account_id TEXT PRIMARY KEY,
          kind TEXT NOT NULL CHECK (kind IN ('funding', 'wallet', 'merchant')),
          currency TEXT NOT NULL,
          balance_minor INTEGER NOT NULL DEFAULT 0,
          created_at_ms INTEGER NOT NULL,
          CHECK (kind = 'funding' OR balance_minor >= 0)
        ) STRICT;
        CREATE TABLE ledger_transfers (
          transfer_id INTEGER PRIMARY KEY,
          debit_account_id TEXT NOT NULL REFERENCES ledger_accounts (account_id),
          credit_account_id TEXT NOT NULL REFERENCES ledger_accounts (account_id),
          amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
          currency TEXT NOT NULL,
          kind TEXT NOT NULL,
          reference TEXT NOT NULL,
          posted_at_ms INTEGER NOT NULL,
          CHECK (debit_account_id <> credit_account_id)
        ) STRICT;
        CREATE INDEX ledger_transfers_by_reference ON ledger_transfers (reference);
        CREATE TABLE ledger_postings (
          transfer_id INTEGER NOT NULL REFERENCES ledger_transfers (transfer_id),
          account_id TEXT NOT NULL REFERENCES ledger_accounts (account_id),
          amount_minor INTEGER NOT NULL CHECK (amount_minor <> 0),
          PRIMARY KEY (transfer_id, account_id)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX ledger_postings_by_account ON ledger_postings (account_id, transfer_id);
      `,
    },
    {
      version: 2,
      description: "campaign accounts (a promotion's budget)",
      // SQLite cannot alter a CHECK: the accounts table is rebuilt and renamed into place, and the transfers
      // and postings that reference it by name then reference the new one.
      rebuildsReferencedTable: true,
      postgres: `
        ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_kind_check;
        ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_kind_check CHECK (kind IN ('funding', 'wallet', 'merchant', 'campaign'));
      `,
      sql: `
        CREATE TABLE ledger_accounts_v2 (
          account_id TEXT PRIMARY KEY,
          kind TEXT NOT NULL CHECK (kind IN ('funding', 'wallet', 'merchant', 'campaign')),
          currency TEXT NOT NULL,
          balance_minor INTEGER NOT NULL DEFAULT 0,
          created_at_ms INTEGER NOT NULL,
          CHECK (kind = 'funding' OR balance_minor >= 0)
        ) STRICT;
        INSERT INTO ledger_accounts_v2 (account_id, kind, currency, balance_minor, created_at_ms)
          SELECT account_id, kind, currency, balance_minor, created_at_ms FROM ledger_accounts;
        DROP TABLE ledger_accounts;
        ALTER TABLE ledger_accounts_v2 RENAME TO ledger_accounts;
      `,
    },
    {
      version: 3,
      description: "no index of transfers by reference",
      // No query ever looked a transfer up by its reference, and a payment's (hub/request) put its row at the
      // hub's place in the index: one more page written per hub in every batch, for nothing.
      sql: "DROP INDEX IF EXISTS ledger_transfers_by_reference;",
    },
  ],
};
