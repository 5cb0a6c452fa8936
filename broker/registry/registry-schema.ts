import type { SchemaComponent } from "../ledger/sqlite-db.ts";
import { seqWindowBytes } from "./seq-window.ts";

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
    {
      version: 3,
      description: "merchants' offline floor limits (none: no offline sales)",
      // All four or none: the last column's check covers the set, so no half-configured merchant exists.
      sql: `
        ALTER TABLE registry_merchants ADD COLUMN offline_sale_max_minor INTEGER CHECK (offline_sale_max_minor > 0);
        ALTER TABLE registry_merchants ADD COLUMN offline_total_max_minor INTEGER CHECK (offline_total_max_minor > 0);
        ALTER TABLE registry_merchants ADD COLUMN offline_count_max INTEGER CHECK (offline_count_max > 0);
        ALTER TABLE registry_merchants ADD COLUMN offline_age_ms_max INTEGER CHECK (
          (offline_age_ms_max IS NULL OR offline_age_ms_max > 0)
          AND (offline_age_ms_max IS NULL) = (offline_sale_max_minor IS NULL)
          AND (offline_age_ms_max IS NULL) = (offline_total_max_minor IS NULL)
          AND (offline_age_ms_max IS NULL) = (offline_count_max IS NULL)
        );
      `,
    },
    {
      version: 4,
      description: "consumed HCE counters, one row per (wallet, ATC), so a late offline capture is accepted exactly once",
      // Counters accepted before this table existed left only the highest in last_atc: every one at or below it
      // stays consumed (atc_tracked_above), so none can be spent again as a late capture.
      sql: `
        ALTER TABLE registry_wallets ADD COLUMN atc_tracked_above INTEGER NOT NULL DEFAULT 0 CHECK (atc_tracked_above >= 0);
        UPDATE registry_wallets SET atc_tracked_above = last_atc;
        CREATE TABLE registry_wallet_atcs (
          wallet_id TEXT NOT NULL REFERENCES registry_wallets (wallet_id),
          atc INTEGER NOT NULL CHECK (atc BETWEEN 1 AND 65535),
          consumed_at_ms INTEGER NOT NULL,
          PRIMARY KEY (wallet_id, atc)
        ) STRICT, WITHOUT ROWID;
      `,
    },
    {
      version: 5,
      description: "each hub's anti-replay window below last_seq (seq-window.ts); NULL: nothing below it seen",
      sql: `ALTER TABLE registry_hubs ADD COLUMN seq_seen BLOB CHECK (seq_seen IS NULL OR length(seq_seen) = ${seqWindowBytes});`,
    },
    {
      version: 6,
      description: "revoked wallets, the revoked certificates the broker refuses by serial (a rotated hub's old one), renewed hub certificates not yet in use",
      sql: `
        ALTER TABLE registry_wallets ADD COLUMN status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked'));
        ALTER TABLE registry_wallets ADD COLUMN revoked_at_ms INTEGER;
        CREATE TABLE registry_revoked_certificates (
          serial_hex TEXT PRIMARY KEY,
          principal TEXT NOT NULL,
          reason TEXT NOT NULL,
          revoked_at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE registry_pending_hub_keys (
          hub_id TEXT PRIMARY KEY REFERENCES registry_hubs (hub_id),
          public_key_pem TEXT NOT NULL,
          certificate_serial TEXT NOT NULL,
          issued_at_ms INTEGER NOT NULL
        ) STRICT;
      `,
    },
  ],
};
