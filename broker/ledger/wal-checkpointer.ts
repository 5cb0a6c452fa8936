import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { assert } from "../../core/assert.ts";
import { logger } from "../../core/log.ts";
import type { SqliteDb } from "./sqlite-db.ts";

const log = logger("tapwire:wal-checkpoint");

/** SQLite's own default: a connection checkpoints at commit once the WAL holds this many frames (pages). */
export const atCommitCheckpointFrames = 1_000;
/**
 * While the thread checkpoints, the committing connection checkpoints only past this many frames (64 MB of 4 KB
 * pages): a backstop that bounds the WAL should the thread fall behind or its checkpoints keep failing.
 */
export const backstopCheckpointFrames = 16_000;
/** Least time between two checkpoints asked of the thread: each one fsyncs the WAL and the database file. */
export const checkpointEveryMsDefault = 250;

/**
 * The thread's whole program, plain CommonJS (it needs none of the TypeScript modules, so no loader either): its
 * own connection to the database file, one PASSIVE checkpoint per "checkpoint" message, each answered.
 */
const threadSource = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.betterSqlitePath);
const db = new Database(workerData.databasePath, { fileMustExist: true });
// A checkpoint syncs the WAL before it copies frames into the database file, and the file after.
db.pragma("synchronous = FULL");
parentPort.on("message", (message) => {
  if (message === "close") {
    db.close();
    parentPort.close();
    return;
  }
  try {
    const [result] = db.pragma("wal_checkpoint(PASSIVE)");
    parentPort.postMessage({ ok: true, busy: result.busy === 1, frames: result.log, copied: result.checkpointed });
  } catch (error) {
    parentPort.postMessage({ ok: false, message: String(error && error.message), code: String(error && error.code) });
  }
});
`;

type CheckpointReply = { ok: true; busy: boolean; frames: number; copied: number } | { ok: false; message: string; code: string };

/**
 * Copies the WAL back into the database file on a thread of its own, so the event loop does not. By default the
 * connection that commits does it, inside COMMIT, once the WAL passes 1,000 frames: copying them and the two fsyncs
 * that go with it held the settlement loop for milliseconds (on an SD card, far longer) every few hundred payments,
 * and made about a third of the time COMMIT took at a handful of payments per batch.
 *
 * After a commit, `committed()` asks the thread for a PASSIVE checkpoint (it never waits for the writer or for
 * readers, and never blocks them), at most one at a time and at most one per `everyMs`. The writer restarts the
 * WAL from its start at its next transaction once everything in it is copied, as it does after its own checkpoints.
 * Checkpoints are crash-safe by SQLite's design: a power cut mid-copy leaves the WAL to replay. Should the thread
 * fail, the connection goes back to checkpointing at commit.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private asking = false;
  private lastAskedMs = Number.NEGATIVE_INFINITY;
  private closing: Promise<void> | undefined;
  private broken = false;
  private idleWaiters: Array<() => void> = [];
  /** Checkpoints the thread has run since it started. */
  checkpoints = 0;

  constructor(
    private readonly db: SqliteDb,
    private readonly everyMs = checkpointEveryMsDefault,
  ) {
    assert(!db.memory, "a memory database has no WAL to checkpoint");
    assert(Number.isFinite(everyMs) && everyMs >= 0, "everyMs must be a finite number of milliseconds, 0 or more");
    const betterSqlitePath = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(threadSource, { eval: true, workerData: { betterSqlitePath, databasePath: db.name } });
    // An idle thread never keeps the process alive; one working or closing does, so close() and idle() resolve
    // even when nothing else is left on the event loop (a process that is stopping).
    this.worker.unref();
    this.worker.on("message", (reply: CheckpointReply) => this.answered(reply));
    this.worker.on("error", (error) => this.fail(error));
    this.exited = new Promise((resolve) =>
      this.worker.once("exit", (exitCode) => {
        if (this.closing === undefined) this.fail(new Error(`the checkpoint thread exited with code ${exitCode}`));
        resolve();
      }),
    );
    db.pragma(`wal_autocheckpoint = ${backstopCheckpointFrames}`);
  }

  /** Whether the thread failed and the connection checkpoints at commit again. */
  get failed(): boolean {
    return this.broken;
  }

  /** After each commit: asks for a checkpoint unless one is running or the last was asked for under everyMs ago. */
  committed(): void {
    if (this.broken || this.closing !== undefined || this.asking) return;
    const nowMs = performance.now();
    if (nowMs - this.lastAskedMs < this.everyMs) return;
    this.lastAskedMs = nowMs;
    this.asking = true;
    this.worker.ref();
    this.worker.postMessage("checkpoint");
  }

  /** Resolves once no checkpoint is running (at once when none is). */
  idle(): Promise<void> {
    return this.asking ? new Promise((resolve) => this.idleWaiters.push(resolve)) : Promise.resolve();
  }

  /** Ends the thread after the checkpoint it runs, if any; the connection checkpoints at commit again. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.idle();
      if (!this.broken) {
        this.worker.ref();
        this.worker.postMessage("close");
      }
      await this.exited;
      this.checkpointAtCommit();
    })();
    return this.closing;
  }

  private answered(reply: CheckpointReply): void {
    this.asking = false;
    this.worker.unref();
    if (reply.ok) {
      this.checkpoints += 1;
      log.debug({ frames: reply.frames, copied: reply.copied, busy: reply.busy }, "WAL checkpointed");
    } else {
      // The disk (full, failing) refused: the WAL keeps everything, the next checkpoint tries again, the backstop bounds it.
      log.warn({ code: reply.code, err: { message: reply.message } }, "WAL checkpoint failed; the WAL keeps it all until one succeeds");
    }
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private fail(error: Error): void {
    if (this.broken) return;
    this.broken = true;
    this.asking = false;
    log.error({ err: error }, "checkpoint thread failed; SQLite checkpoints at commit again");
    this.checkpointAtCommit();
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private checkpointAtCommit(): void {
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${atCommitCheckpointFrames}`);
  }
}
