import type { Clock } from "../../core/sources.ts";
import type { SqlDb } from "../../core/sql-db.ts";
import { openSqliteDb, type SchemaComponent } from "../ledger/sqlite-db.ts";
import { openPgDb } from "./pg-open.ts";
import { isPostgresUrl } from "./store-location.ts";

/**
 * Opens and migrates the settlement data at `location`: a postgres:// URL (workers sharing one database), a SQLite
 * file path, or ":memory:".
 */
export function openStore(location: string, components: readonly SchemaComponent[], clock: Clock): SqlDb {
  if (isPostgresUrl(location)) return openPgDb({ url: location, components, clock });
  const db = openSqliteDb({ path: location, components, clock });
  // Erased and expired personal data (broker/privacy/) must not linger in freed space of the database file.
  db.pragma("secure_delete = ON");
  return db;
}
