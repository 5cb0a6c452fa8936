import type { PoolClient } from "pg";
import { assert } from "../../core/assert.ts";
import type { Clock } from "../../core/sources.ts";
import { assertKnownVersion, type SchemaComponent } from "../ledger/sqlite-db.ts";
import { pgMigrations } from "./pg-schema.ts";

/** The shared store's schema, one component on the same counter scheme as SQLite's. */
export const pgSchema: SchemaComponent = { name: "shared-store", migrations: pgMigrations };

/**
 * Any fixed 64-bit number both sides use: pg_advisory_lock(key) is held by one session at a time, so of several
 * workers starting at once on a fresh database one migrates and the others wait, then find nothing left to do.
 */
export const migrationLockKey = 0x7461_7077_6972_65n;

/** Applies every migration not yet recorded, each in its own transaction, under the advisory lock. */
export async function migratePg(client: PoolClient, clock: Clock): Promise<number> {
  await client.query("SELECT pg_advisory_lock($1)", [migrationLockKey.toString()]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_version (
      component TEXT PRIMARY KEY,
      version INTEGER NOT NULL,
      applied_at_ms BIGINT NOT NULL
    )`);
    const { rows } = await client.query<{ version: number }>("SELECT version FROM schema_version WHERE component = $1", [pgSchema.name]);
    const applied = rows[0]?.version ?? 0;
    assertKnownVersion(pgSchema, applied);
    for (const migration of pgSchema.migrations.slice(applied)) {
      assert(migration.version === pgSchema.migrations.indexOf(migration) + 1, `${pgSchema.name} migration versions run 1, 2, 3…`);
      await client.query("BEGIN");
      try {
        await client.query(migration.sql);
        await client.query(
          `INSERT INTO schema_version (component, version, applied_at_ms) VALUES ($1, $2, $3)
           ON CONFLICT (component) DO UPDATE SET version = excluded.version, applied_at_ms = excluded.applied_at_ms`,
          [pgSchema.name, migration.version, clock.nowMs()],
        );
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw error;
      }
    }
    return pgSchema.migrations.length;
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [migrationLockKey.toString()]);
  }
}
