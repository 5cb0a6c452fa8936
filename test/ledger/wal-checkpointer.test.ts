import { execFile } from "node:child_process";
import { statSync, unlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it, vi } from "vitest";
import Database from "better-sqlite3";
import {
  atCommitCheckpointFrames,
  backstopCheckpointFrames,
  checkpointEveryMsDefault,
  WalCheckpointer,
} from "../../broker/ledger/wal-checkpointer.ts";
import { WalSync } from "../../broker/ledger/wal-sync.ts";
import { WalDatabases } from "./wal-databases.ts";

const rowBytes = 2_000;

describe("WalCheckpointer: the WAL copied back into the database file on a thread of its own", () => {
  const databases = new WalDatabases();
  const checkpointers: WalCheckpointer[] = [];
  afterEach(async () => {
    for (const checkpointer of checkpointers.splice(0)) await checkpointer.close();
    databases.cleanUp();
  });
  const fileDb = () => databases.open("BLOB");

  // everyMs 0: these tests ask for a checkpoint after each commit instead of waiting out the production spacing.
  function checkpointerOf(db: Database.Database, everyMs = 0): WalCheckpointer {
    const checkpointer = new WalCheckpointer(db, everyMs);
    checkpointers.push(checkpointer);
    return checkpointer;
  }

  function insertRows(db: Database.Database, count: number): void {
    db.transaction(() => {
      for (let index = 0; index < count; index += 1) db.prepare("INSERT INTO t (v) VALUES (randomblob(?))").run(rowBytes);
    })();
  }

  /** What a PASSIVE checkpoint from a connection of the test's own finds: frames in the WAL, and how many were copied. */
  function walState(path: string): { frames: number; copied: number } {
    const other = new Database(path, { fileMustExist: true });
    try {
      // Another connection's checkpoint would copy what is left, so this one only reads the WAL-index header.
      const [row] = other.pragma("wal_checkpoint(NOOP)") as unknown as Array<{ log: number; checkpointed: number }>;
      return { frames: row!.log, copied: row!.checkpointed };
    } finally {
      other.close();
    }
  }

  it("copies every committed frame into the database file on its thread, while the connection checkpoints only past the backstop", async () => {
    const db = fileDb();
    const checkpointer = checkpointerOf(db);
    expect(db.pragma("wal_autocheckpoint", { simple: true })).toBe(backstopCheckpointFrames);
    const fileBytesBefore = statSync(db.name).size;
    insertRows(db, 200);
    // The commit left its frames in the WAL: nothing in this thread copied them.
    expect(walState(db.name).frames).toBeGreaterThan(0);
    checkpointer.committed();
    await checkpointer.idle();
    expect(checkpointer.checkpoints).toBe(1);
    const { frames, copied } = walState(db.name);
    expect(copied).toBe(frames);
    expect(statSync(db.name).size).toBeGreaterThan(fileBytesBefore + 200 * rowBytes);
    // The writer's next transaction starts the WAL over, as after a checkpoint of its own.
    insertRows(db, 1);
    expect(walState(db.name).frames).toBeLessThan(frames);
  });

  it("leaves nothing uncopied when commits land while its thread copies, so the writer's next transaction starts the WAL over", async () => {
    const db = fileDb();
    // restartFramesMin 0: the writer finishes after every checkpoint, however few frames the test's WAL holds.
    const checkpointer = new WalCheckpointer(db, 0, 0);
    checkpointers.push(checkpointer);
    insertRows(db, 1_000);
    checkpointer.committed();
    const idle = checkpointer.idle().then(() => "idle" as const);
    let commitsDuringCheckpoint = 0;
    // A commit on each turn of the event loop until the thread answers: some land after its last round began.
    while ((await Promise.race([idle, new Promise<"turn">((resolve) => setImmediate(() => resolve("turn")))])) === "turn") {
      insertRows(db, 1);
      commitsDuringCheckpoint += 1;
    }
    expect(commitsDuringCheckpoint).toBeGreaterThan(0);
    const { frames, copied } = walState(db.name);
    expect(copied).toBe(frames);
    insertRows(db, 1);
    expect(walState(db.name).frames).toBeLessThan(frames);
  });

  it("asks for one checkpoint at a time, and at most one per everyMs", async () => {
    const db = fileDb();
    const now = vi.spyOn(performance, "now");
    try {
      now.mockReturnValue(10_000);
      const checkpointer = checkpointerOf(db, checkpointEveryMsDefault);
      insertRows(db, 10);
      checkpointer.committed();
      checkpointer.committed(); // one is running: not asked again
      await checkpointer.idle();
      expect(checkpointer.checkpoints).toBe(1);
      now.mockReturnValue(10_000 + checkpointEveryMsDefault - 1);
      checkpointer.committed();
      await checkpointer.idle();
      expect(checkpointer.checkpoints).toBe(1);
      now.mockReturnValue(10_000 + checkpointEveryMsDefault);
      checkpointer.committed();
      await checkpointer.idle();
      expect(checkpointer.checkpoints).toBe(2);
    } finally {
      now.mockRestore();
    }
  });

  it("ends its thread on close, after the checkpoint it runs, and the connection checkpoints at commit again", async () => {
    const db = fileDb();
    const checkpointer = checkpointerOf(db);
    insertRows(db, 50);
    checkpointer.committed();
    await checkpointer.close();
    expect(checkpointer.checkpoints).toBe(1);
    expect(db.pragma("wal_autocheckpoint", { simple: true })).toBe(atCommitCheckpointFrames);
    checkpointer.committed(); // closed: nothing is asked of a thread that is gone
    await expect(checkpointer.idle()).resolves.toBeUndefined();
    expect(checkpointer.checkpoints).toBe(1);
  });

  it("keeps the process alive while it checkpoints or closes, so a process with nothing else left still ends its close", async () => {
    const script = fileURLToPath(new URL("./checkpointer-alone.ts", import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", script], { timeout: 30_000 });
    // The checkpoint asked before close ran too: close waits for the one running.
    expect(JSON.parse(stdout)).toEqual({ checkpointsBeforeClose: 1, checkpoints: 2 });
  });

  it("goes back to checkpointing at commit when its thread fails (here: the file it opens is gone)", async () => {
    const db = fileDb();
    insertRows(db, 1);
    // The connection keeps the unlinked file open; the thread, which opens it by name, finds nothing.
    unlinkSync(db.name);
    const checkpointer = checkpointerOf(db);
    await vi.waitFor(() => expect(checkpointer.failed).toBe(true), { timeout: 10_000, interval: 10 });
    expect(db.pragma("wal_autocheckpoint", { simple: true })).toBe(atCommitCheckpointFrames);
    insertRows(db, 1);
    checkpointer.committed();
    await expect(checkpointer.idle()).resolves.toBeUndefined();
    expect(checkpointer.checkpoints).toBe(0);
  });

  it("is asked by WalSync after each batch it commits, and closed with it", async () => {
    const db = fileDb();
    const checkpointer = checkpointerOf(db);
    const sync = new WalSync(db, () => Promise.resolve(), checkpointer);
    sync.unsynced(() => insertRows(db, 20));
    await checkpointer.idle();
    expect(checkpointer.checkpoints).toBe(1);
    // A batch that throws committed nothing: no checkpoint is asked for it.
    expect(() => sync.unsynced(() => { throw new Error("bug in the batch"); })).toThrow("bug in the batch");
    await checkpointer.idle();
    expect(checkpointer.checkpoints).toBe(1);
    await sync.close();
    expect(db.pragma("wal_autocheckpoint", { simple: true })).toBe(atCommitCheckpointFrames);
  });
});
