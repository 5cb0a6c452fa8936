import Database from "better-sqlite3";
import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { Clock } from "../../core/sources.ts";
import type { SqlDb } from "../../core/sql-db.ts";
import { logger } from "../../core/log.ts";

const log = logger("tapwire:ledger");

/**
 * The settlement database: one SQLite file holds the ledger, the registry, idempotency records and payments,
 * so one transaction covers a whole decision. WAL lets readers run beside the writer; synchronous=FULL makes
 * every commit durable before anything is announced (a decision is only sent after its commit returns). The
 * settlement batch is the one exception, and only in how: it commits unsynced and answers after an fdatasync of the
 * WAL run on another thread (wal-sync.ts).
 */
export type SqliteDb = Database.Database;

/** `db` as the SQLite connection it must be, for what only SQLite has (pragmas, fault injection in tests). */
export function asSqlite(db: SqlDb): SqliteDb {
  assert(db instanceof Database, "this needs the embedded SQLite engine");
  return db;
}

export interface Migration {
  /** 1, 2, 3… within its component, applied in order exactly once. */
  version: number;
  description: string;
  sql: string;
  /**
   * For a migration that rebuilds a table other tables reference (SQLite's documented 12-step change: create
   * the new table, copy, drop the old one, rename): foreign keys are off around its transaction, as switching
   * them inside one is a no-op, and `foreign_key_check` must find nothing before it commits.
   */
  rebuildsReferencedTable?: boolean;
  /**
   * The PostgreSQL text, only where `sql` has no mechanical mapping (broker/store/pg-dialect.ts): a trigger, or
   * a SQLite table rebuild that PostgreSQL does with ALTER TABLE.
   */
  postgres?: string;
}

/** A module that owns some tables (ledger, registry, settlement) and migrates them on its own counter. */
export interface SchemaComponent {
  name: string;
  migrations: readonly Migration[];
}

/** How long a connection waits for another process's write lock before failing. */
export const busyTimeoutMs = 5_000;
/**
 * How long a starting process waits for the write lock while others migrate: once per start, and several workers
 * starting at once on a fresh file queue for it through every migration (SQLite's busy wait is not first come,
 * first served, so one may wait for all the others' migrations).
 */
export const migrationBusyTimeoutMs = 60_000;

export interface OpenSqliteOptions {
  /** A file path, or ":memory:" for a database that lives as long as the connection. */
  path: string;
  components: readonly SchemaComponent[];
  clock: Clock;
}

/** Opens of one process that met SQLite's busy answer at once, tried again after a pause (see openSqliteDb). */
export const openAttemptsMax = 8;
const openRetryPauseMsMax = 50;
/** Int32Array views cannot sleep on their own: a pause in synchronous code is a wait nobody wakes. */
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Opens, switches to WAL and migrates. Several workers starting at once on a fresh file race for the locks, and
 * in a few of those races SQLite answers SQLITE_BUSY at once rather than through the busy timeout (seen once in CI,
 * under load, 2 s into a test whose workers wait up to a minute): such an open is closed and tried again after a
 * short random pause, at most openAttemptsMax times. Migrations are applied once whatever the attempt (each reads
 * the recorded version under the write lock).
 */
export function openSqliteDb(options: OpenSqliteOptions): SqliteDb {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return openOnce(options);
    } catch (error) {
      if (!isBusy(error) || attempt >= openAttemptsMax) throw error;
      log.warn({ err: error, attempt, path: options.path }, "database busy while opening; trying again");
      Atomics.wait(pause, 0, 0, Math.random() * openRetryPauseMsMax * attempt);
    }
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_BUSY");
}

function openOnce({ path, components, clock }: OpenSqliteOptions): SqliteDb {
  let db: SqliteDb;
  try {
    db = new Database(path);
  } catch (error) {
    throw new TapwireError(`cannot open database ${path}: ${(error as Error).message}`, ErrorCode.LedgerStorage, { path });
  }
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    // ":memory:" answers "memory"; a file must really be in WAL or group commit loses its point.
    const journalMode = db.pragma("journal_mode = WAL", { simple: true });
    assert(journalMode === "wal" || (db.memory && journalMode === "memory"), `journal_mode is ${String(journalMode)}`);
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    db.pragma(`busy_timeout = ${migrationBusyTimeoutMs}`);
    migrate(db, components, clock);
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Each migration runs in its own IMMEDIATE transaction, which takes SQLite's write lock first and only then
 * reads the recorded version: of several processes starting at once on a fresh file, one applies a migration
 * and the others, once they hold the lock, see it recorded and skip it (never `table … already exists`).
 */
function migrate(db: SqliteDb, components: readonly SchemaComponent[], clock: Clock): void {
  applyMigrations(db, components, clock, {
    sqlOf: (migration) => migration.sql,
    around: (migration, apply) => {
      if (migration.rebuildsReferencedTable) db.pragma("foreign_keys = OFF");
      try {
        apply(() => {
          const dangling = db.pragma("foreign_key_check") as unknown[];
          assert(dangling.length === 0, `${migration.description}: leaves ${dangling.length} dangling references`);
        });
      } finally {
        if (migration.rebuildsReferencedTable) db.pragma("foreign_keys = ON");
      }
    },
  });
}

const versionTableSql = `CREATE TABLE IF NOT EXISTS schema_version (
  component TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  applied_at_ms INTEGER NOT NULL
) STRICT`;

/** What differs by engine when migrating: the text a migration runs, and what must happen around it. */
export interface MigrationEngine {
  sqlOf(migration: Migration): string;
  /** Calls `apply` once; `check` (given to apply) runs inside the migration's transaction before it commits. */
  around?(migration: Migration, apply: (check: () => void) => void): void;
}

/**
 * Applies, in order, every migration of every component not yet recorded in schema_version, each in its own
 * transaction that reads the recorded version first (so a second process migrating at once skips it), and
 * refuses a database migrated by newer code. The caller holds whatever makes the readers wait (SQLite's write
 * lock taken by IMMEDIATE; PostgreSQL's advisory lock).
 */
export function applyMigrations(db: SqlDb, components: readonly SchemaComponent[], clock: Clock, engine: MigrationEngine): void {
  db.exec(engine.sqlOf({ version: 0, description: "schema versions", sql: versionTableSql }));
  const current = db.prepare<[string], number>("SELECT version FROM schema_version WHERE component = ?").pluck();
  const record = db.prepare<[string, number, number]>(
    `INSERT INTO schema_version (component, version, applied_at_ms) VALUES (?, ?, ?)
     ON CONFLICT (component) DO UPDATE SET version = excluded.version, applied_at_ms = excluded.applied_at_ms`,
  );
  for (const component of components) {
    component.migrations.forEach((migration, index) => {
      assert(migration.version === index + 1, `${component.name} migration ${index} must have version ${index + 1}`);
    });
    assertKnownVersion(component, current.get(component.name) ?? 0);
    for (const migration of component.migrations) {
      const apply = (check: () => void) =>
        db
          .transaction(() => {
            if ((current.get(component.name) ?? 0) >= migration.version) return;
            db.exec(engine.sqlOf(migration));
            if (migration.rebuildsReferencedTable) check();
            record.run(component.name, migration.version, clock.nowMs());
          })
          .immediate();
      if (engine.around) engine.around(migration, apply);
      else apply(() => undefined);
    }
  }
}

/** A database migrated by newer code is refused rather than written by code that does not know its tables. */
export function assertKnownVersion(component: SchemaComponent, applied: number): void {
  if (applied > component.migrations.length) {
    throw new TapwireError(
      `database has ${component.name} schema version ${applied}, this code knows up to ${component.migrations.length}`,
      ErrorCode.LedgerStorage,
    );
  }
}

/** The schema version of one component, 0 when it was never migrated. */
export function schemaVersion(db: SqliteDb, component: string): number {
  const row = db.prepare<[string], { version: number }>("SELECT version FROM schema_version WHERE component = ?").get(component);
  return row?.version ?? 0;
}


/** Prepares each SQL text once per connection (shared with the hub's journal). */
export { StatementCache } from "../../core/statement-cache.ts";
