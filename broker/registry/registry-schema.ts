import type { SchemaComponent } from "../ledger/sqlite-db.ts";

/** Merchants, hubs and wallets. Lives in the settlement database so seq/ATC updates commit with the payment. */
export const registrySchema: SchemaComponent = {
  name: "registry",
  migrations: [
    {
      version: 1,
      description: "merchants, hubs, wallets",
      sql: `
        CREATE TABLE registry_merchants (
          merchant_id TEXT PRIMARY KEY,
          currency TEXT NOT NULL,
          display_name TEXT NOT NULL,
          enrolled_at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE registry_hubs (
          hub_id TEXT PRIMARY KEY,
          merchant_id TEXT NOT NULL REFERENCES registry_merchants (merchant_id),
          public_key_pem TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
          last_seq INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
          certificate_serial TEXT NOT NULL,
          enrolled_at_ms INTEGER NOT NULL,
          revoked_at_ms INTEGER
        ) STRICT;
        CREATE INDEX registry_hubs_by_merchant ON registry_hubs (merchant_id);
        CREATE TABLE registry_wallets (
          wallet_id TEXT PRIMARY KEY,
          public_key_pem TEXT NOT NULL,
          currency TEXT NOT NULL,
          per_payment_max_minor INTEGER NOT NULL CHECK (per_payment_max_minor > 0),
          last_atc INTEGER NOT NULL DEFAULT 0 CHECK (last_atc >= 0),
          enrolled_at_ms INTEGER NOT NULL
        ) STRICT;
      `,
    },
    {
      version: 2,
      description: "revoked hubs by time, for the revocation watch",
      sql: `CREATE INDEX registry_hubs_revoked ON registry_hubs (revoked_at_ms) WHERE status = 'revoked';`,
    },
  ],
};
