import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { durableAtCommit, syncCommitted, WalSync, type SyncFile } from "../../broker/ledger/wal-sync.ts";
import { WalDatabases } from "./wal-databases.ts";

/** A sync the test ends by hand: which file, and in what order they started and ended. */
function heldSyncs() {
  const started: Array<{ path: string; end: () => void; fail: (error: Error) => void }> = [];
  const syncFile: SyncFile = (path) =>
    new Promise<void>((resolve, reject) => {
      started.push({ path, end: resolve, fail: reject });
    });
  return { started, syncFile };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("WalSync: a group commit's fsync off the event loop", () => {
  const databases = new WalDatabases();
  afterEach(() => databases.cleanUp());
  const fileDb = () => databases.open("INTEGER");

  it("commits the batch with synchronous=NORMAL and puts FULL back for every other writer, also when the batch throws", () => {
    const db = fileDb();
    const sync = new WalSync(db);
    const during = sync.unsynced(() => db.transaction(() => {
      db.prepare("INSERT INTO t (v) VALUES (1)").run();
      return db.pragma("synchronous", { simple: true });
    }).immediate());
    expect(during).toBe(1);
    expect(db.pragma("synchronous", { simple: true })).toBe(2);
    expect(() => sync.unsynced(() => { throw new Error("bug in the batch"); })).toThrow("bug in the batch");
    expect(db.pragma("synchronous", { simple: true })).toBe(2);
  });

  it("syncs the -wal file of the database, for real, through one descriptor kept open until close", async () => {
    const db = fileDb();
    const sync = new WalSync(db);
    const wal = `${db.name}-wal`;
    const descriptorsOnWal = () => readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === wal;
      } catch {
        return false;
      }
    }).length;
    const bySqlite = descriptorsOnWal();
    for (let index = 0; index < 3; index += 1) {
      sync.unsynced(() => db.prepare("INSERT INTO t (v) VALUES (2)").run());
      expect(existsSync(wal)).toBe(true);
      await expect(sync.synced()).resolves.toBeUndefined();
    }
    expect(descriptorsOnWal()).toBe(bySqlite + 1);
    await sync.close();
    expect(descriptorsOnWal()).toBe(bySqlite);
  });

  it("answers a commit only after a sync that started after it: callers during a running sync share the next one", async () => {
    const db = fileDb();
    const { started, syncFile } = heldSyncs();
    const sync = new WalSync(db, syncFile);
    const order: string[] = [];
    const first = sync.synced().then(() => order.push("first"));
    expect(started.map((s) => s.path)).toEqual([`${db.name}-wal`]);
    // Two commits while the first sync runs: it may have started before them, so they wait for one more.
    const second = sync.synced().then(() => order.push("second"));
    const third = sync.synced().then(() => order.push("third"));
    await turn();
    expect(started).toHaveLength(1);
    started[0]!.end();
    await first;
    await turn();
    expect(order).toEqual(["first"]);
    expect(started).toHaveLength(2);
    started[1]!.end();
    await Promise.all([second, third]);
    expect(order).toEqual(["first", "second", "third"]);
    // Nothing running: the next caller starts its own at once.
    void sync.synced();
    expect(started).toHaveLength(3);
    started[2]!.end();
  });

  it("rejects every caller of a sync the disk refused; the callers after it get a sync of their own", async () => {
    const db = fileDb();
    const { started, syncFile } = heldSyncs();
    const sync = new WalSync(db, syncFile);
    const failed = sync.synced();
    const after = sync.synced();
    started[0]!.fail(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
    await expect(failed).rejects.toThrow("EIO");
    await turn();
    expect(started).toHaveLength(2);
    started[1]!.end();
    await expect(after).resolves.toBeUndefined();
  });

  it("leaves a memory database and any non-SQLite store durable at commit", async () => {
    const memory = new Database(":memory:");
    databases.opened.push(memory);
    expect(WalSync.of(memory)).toBe(durableAtCommit);
    expect(WalSync.of(fileDb())).toBeInstanceOf(WalSync);
    expect(durableAtCommit.unsynced(() => 7)).toBe(7);
    await expect(durableAtCommit.synced()).resolves.toBeUndefined();
  });
});

describe("syncCommitted: a reader makes what it read durable before passing it on", () => {
  it("syncs the -wal file, finds nothing to do when there is none, and rejects what the disk refuses", async () => {
    const synced: string[] = [];
    await syncCommitted("/data/settlement.sqlite", async (path) => {
      synced.push(path);
    });
    expect(synced).toEqual(["/data/settlement.sqlite-wal"]);
    const dir = mkdtempSync(join(tmpdir(), "tapwire-walsync-"));
    try {
      await expect(syncCommitted(join(dir, "checkpointed.sqlite"))).resolves.toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const refused: SyncFile = () => Promise.reject(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
    await expect(syncCommitted("/data/settlement.sqlite", refused)).rejects.toThrow("EIO");
  });
});
