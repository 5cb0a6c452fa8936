import type { SchemaComponent } from "../ledger/sqlite-db.ts";

/**
 * Wallet providers (other wallet operators, each a principal with its own certificate and home currency), which
 * enrolled wallets they hold, and each provider authorization a payment was posted under (the provider's signed
 * answer kept as it came, so the posting can be proven to the provider later), and the money given back to a
 * provider's wallet (refunds, reversals) that the provider is to be told of, kept until it was sent.
 */
export const providerSchema: SchemaComponent = {
  name: "providers",
  migrations: [
    {
      version: 1,
      description: "providers, their wallets, authorizations, give-back notices",
      sql: `
        CREATE TABLE providers (
          provider_id TEXT PRIMARY KEY,
          public_key_pem TEXT NOT NULL,
          currency TEXT NOT NULL,
          certificate_serial TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
          enrolled_at_ms INTEGER NOT NULL,
          revoked_at_ms INTEGER
        ) STRICT;
        CREATE TABLE provider_wallets (
          wallet_id TEXT PRIMARY KEY REFERENCES registry_wallets (wallet_id),
          provider_id TEXT NOT NULL REFERENCES providers (provider_id)
        ) STRICT;
        CREATE TABLE provider_authorizations (
          authorization_id TEXT PRIMARY KEY,
          payment_id INTEGER NOT NULL UNIQUE REFERENCES settlement_payments (payment_id),
          provider_id TEXT NOT NULL REFERENCES providers (provider_id),
          amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
          currency TEXT NOT NULL,
          answer BLOB NOT NULL,
          posted_at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE provider_notices (
          notice_id INTEGER PRIMARY KEY,
          provider_id TEXT NOT NULL REFERENCES providers (provider_id),
          authorization_id TEXT NOT NULL REFERENCES provider_authorizations (authorization_id),
          reference TEXT NOT NULL UNIQUE,
          amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
          currency TEXT NOT NULL,
          created_at_ms INTEGER NOT NULL,
          sent_at_ms INTEGER
        ) STRICT;
        CREATE INDEX provider_notices_unsent ON provider_notices (notice_id) WHERE sent_at_ms IS NULL;
      `,
    },
  ],
};
