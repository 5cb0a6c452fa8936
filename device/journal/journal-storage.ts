import { statSync } from "node:fs";
import type Database from "better-sqlite3";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { journalMigrations } from "./journal-schema.ts";

/** The journal file underneath: its identity (to notice it was deleted or replaced), migrations, typed faults. */

export interface FileIdentity {
  path: string;
  dev: number;
  ino: number;
}

export function fileIdentity(path: string): FileIdentity {
  const { dev, ino } = statSync(path);
  return { path, dev, ino };
}

export function migrate(db: Database.Database): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > journalMigrations.length) {
    throw new TapwireError(`journal schema ${version} is newer than this hub knows (${journalMigrations.length})`, ErrorCode.JournalUnavailable);
  }
  for (let index = version; index < journalMigrations.length; index++) {
    db.transaction(() => {
      db.exec(journalMigrations[index]!);
      db.pragma(`user_version = ${index + 1}`);
    }).immediate();
  }
}

/** Storage faults (SQLITE_FULL, SQLITE_IOERR_*, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_CORRUPT …) are typed; anything else is a bug. */
export function storage<T>(what: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("SQLITE_")) {
      throw new TapwireError(`cannot ${what}: ${(error as Error).message}`, ErrorCode.JournalUnavailable, { sqliteCode: code }, { cause: error });
    }
    throw error;
  }
}
