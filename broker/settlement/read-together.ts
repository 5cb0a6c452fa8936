import Database from "better-sqlite3";
import { assert } from "../../core/assert.ts";
import type { SqlDb } from "../../core/sql-db.ts";
import { storageFault } from "./storage-faults.ts";

/**
 * One deferred transaction function a connection, built at its first read: better-sqlite3's `db.transaction()` builds
 * four wrappers and their properties at every call, ~13 µs here, and readTogether runs twice a batch (a batch of one
 * payment at a time on a quiet terminal).
 */
const readTransactions = new WeakMap<Database.Database, (read: () => void) => void>();

function readTransactionOf(db: Database.Database): (read: () => void) => void {
  let transaction = readTransactions.get(db);
  if (transaction === undefined) {
    transaction = db.transaction((read: () => void) => read()).deferred;
    readTransactions.set(db, transaction);
  }
  return transaction;
}

/**
 * On SQLite, reads in one read transaction (a statement on its own takes a WAL snapshot of its own); if that
 * transaction cannot begin, the reads run one by one, each answering its storage fault as it always did (and one
 * that cannot end changes nothing: it only read).
 * On PostgreSQL, one by one: a transaction there is two more round trips.
 */
export function readTogether<T>(db: SqlDb, read: () => T): T {
  if (!(db instanceof Database) || db.inTransaction) return read();
  let result: { value: T } | undefined;
  try {
    readTransactionOf(db)(() => {
      result = { value: read() };
    });
  } catch (error) {
    if (storageFault(error) === undefined) throw error;
    return result !== undefined ? result.value : read();
  }
  assert(result !== undefined, "the read transaction ran its reads");
  return result.value;
}

