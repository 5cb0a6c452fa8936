import { ErrorCode, TapwireError } from "../../protocol/errors.ts";

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

/** The storage fault behind `error`, typed LedgerStorage; undefined when it is anything else (a bug: let it crash). */
export function storageFault(error: unknown): TapwireError | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== "string" || !storageCodePrefixes.some((prefix) => code.startsWith(prefix))) return undefined;
  return new TapwireError(`ledger storage unavailable: ${(error as Error).message}`, ErrorCode.LedgerStorage, { sqliteCode: code }, { cause: error });
}
