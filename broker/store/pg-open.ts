import type { Clock } from "../../core/sources.ts";
import { applyMigrations, type SchemaComponent } from "../ledger/sqlite-db.ts";
import { pgDdl } from "./pg-dialect.ts";
import { PgSyncDb } from "./pg-sync-db.ts";

/**
 * Any fixed 64-bit number every worker uses: pg_advisory_lock(key) is held by one session at a time, so of several
 * workers starting at once on a fresh database one migrates and the others wait, then find nothing left to do.
 */
export const migrationLockKey = 0x7461_7077_6972_65n;

export interface OpenPgOptions {
  /** `postgres://user@host:port/database`. */
  url: string;
  components: readonly SchemaComponent[];
  clock: Clock;
}

/** Connects to the shared database and applies what is not yet applied, under the advisory lock. */
export function openPgDb({ url, components, clock }: OpenPgOptions): PgSyncDb {
  const db = new PgSyncDb(url);
  try {
    db.exec(`SELECT pg_advisory_lock(${migrationLockKey})`);
    try {
      applyMigrations(db, components, clock, { sqlOf: (migration) => migration.postgres ?? pgDdl(migration.sql) });
    } finally {
      db.exec(`SELECT pg_advisory_unlock(${migrationLockKey})`);
    }
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}
