import { logger } from "../../core/log.ts";
import type { Clock } from "../../core/sources.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { isPgStorageState, PgSqlError } from "../store/pg-sync-db.ts";

const log = logger("tapwire:settlement");

/**
 * SQLite result codes that mean the storage, not the request or the code, is at fault: the disk is full, the file
 * or folder is read-only or gone, another process holds the write lock, the file is damaged. better-sqlite3 puts
 * the extended code name on the error (`SQLITE_IOERR_WRITE`), so prefixes match.
 */
const storageCodePrefixes = [
  "SQLITE_FULL",
  "SQLITE_IOERR",
  "SQLITE_READONLY",
  "SQLITE_CANTOPEN",
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_CORRUPT",
  "SQLITE_NOTADB",
  "SQLITE_PERM",
  "SQLITE_PROTOCOL",
];

/**
 * The storage fault behind `error`, typed LedgerStorage; undefined when it is anything else (a bug: let it crash).
 * On PostgreSQL (broker/store/pg-sync-db.ts) the SQLSTATE says it: no connection, no disk, a restart, a timeout,
 * contention that outlasted every retry.
 */
export function storageFault(error: unknown): TapwireError | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  const storage = error instanceof PgSqlError ? isPgStorageState(error.sqlState) : typeof code === "string" && storageCodePrefixes.some((prefix) => code.startsWith(prefix));
  if (!storage) return undefined;
  return new TapwireError(`ledger storage unavailable: ${(error as Error).message}`, ErrorCode.LedgerStorage, { storageCode: code }, { cause: error });
}

/** Whether the ledger's storage takes writes; the operator sees this (dashboard, log at error). */
export type StorageHealth = { state: "ok" } | { state: "failing"; sinceMs: number; code: string; failedBatches: number };

/** The one owner of StorageHealth: batches and sweeps report here whether their writes got through. */
export class StorageWatch {
  private current: StorageHealth = { state: "ok" };

  constructor(private readonly clock: Clock) {}

  get health(): StorageHealth {
    return this.current;
  }

  failed(fault: TapwireError, batchSize: number): void {
    if (this.current.state === "ok") {
      this.current = { state: "failing", sinceMs: this.clock.nowMs(), code: String(fault.context?.["storageCode"]), failedBatches: 1 };
      log.error({ code: fault.code, storageCode: fault.context?.["storageCode"], batchSize }, "ledger storage failing: requests are declined (LedgerStorage, retry later) until it recovers");
    } else {
      this.current.failedBatches += 1;
    }
  }

  works(): void {
    if (this.current.state === "ok") return;
    log.warn({ failedBatches: this.current.failedBatches, sinceMs: this.current.sinceMs }, "ledger storage recovered");
    this.current = { state: "ok" };
  }
}
