import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import type { SqlDb } from "../../core/sql-db.ts";
import { readTogether } from "../../broker/settlement/read-together.ts";

describe("readTogether: reads that belong together on one snapshot", () => {
  it("runs the reads in one read transaction on SQLite, and leaves none open", () => {
    const db = new Database(":memory:");
    db.exec("CREATE TABLE t (v INTEGER NOT NULL); INSERT INTO t (v) VALUES (1), (2)");
    const get = db.prepare<[number], { v: number }>("SELECT v FROM t WHERE v = ?");
    const seen = readTogether(db, () => [db.inTransaction, get.get(1)?.v, get.get(2)?.v]);
    expect(seen).toEqual([true, 1, 2]);
    expect(db.inTransaction).toBe(false);
    db.close();
  });

  it("lets a bug in the reads through, once, with no transaction left open", () => {
    const db = new Database(":memory:");
    let calls = 0;
    expect(() =>
      readTogether(db, () => {
        calls += 1;
        throw new Error("bug in a lookup");
      }),
    ).toThrow("bug in a lookup");
    expect(calls).toBe(1);
    expect(db.inTransaction).toBe(false);
    db.close();
  });

  it("runs them one by one on another engine (PostgreSQL: a transaction is two more round trips)", () => {
    const other = { inTransaction: false } as unknown as SqlDb;
    expect(readTogether(other, () => "read")).toBe("read");
  });
});
