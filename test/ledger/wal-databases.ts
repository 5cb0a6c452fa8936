import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";

/**
 * SQLite files in WAL mode with synchronous=FULL (as openSqliteDb leaves them), each in a temp dir of its own, with
 * one table `t` of the given column type; `cleanUp` closes every one still open and removes the dirs.
 */
export class WalDatabases {
  private readonly dirs: string[] = [];
  /** Every database opened here, and any a test adds (closed by cleanUp if still open). */
  readonly opened: Database.Database[] = [];

  open(columnType: "INTEGER" | "BLOB"): Database.Database {
    const dir = mkdtempSync(join(tmpdir(), "tapwire-wal-"));
    this.dirs.push(dir);
    const db = new Database(join(dir, "settlement.sqlite"));
    this.opened.push(db);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec(`CREATE TABLE t (v ${columnType} NOT NULL)`);
    return db;
  }

  cleanUp(): void {
    for (const db of this.opened.splice(0)) if (db.open) db.close();
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}
