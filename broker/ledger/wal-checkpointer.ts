import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
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
/** Checkpoint rounds the thread runs for one ask, each copying what was committed during the one before. */
export const checkpointRoundsMax = 4;
/** A round that found at most this many new frames ends the thread's rounds: the writer's round copies the rest. */
export const chaseFramesMax = 64;
/** The WAL (16 MB of 4 KB pages) past which the writer finishes a checkpoint so that the WAL starts over. */
export const restartFramesMinDefault = 4_096;

/**
 * The thread's whole program, plain CommonJS (it needs none of the TypeScript modules, so no loader either): its
 * own connection to the database file, PASSIVE checkpoint rounds for each "checkpoint" message, each message answered.
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
    // Frames committed while a round copied are left for the next: rounds go on while one found more than
    // workerData.chaseFramesMax new frames, so the writer's own round after the reply has only a few left.
    let result = db.pragma("wal_checkpoint(PASSIVE)")[0];
    for (let round = 1; round < workerData.roundsMax; round += 1) {
      const before = result.log;
      const next = db.pragma("wal_checkpoint(PASSIVE)")[0];
      const found = next.log >= before ? next.log - before : next.log;
      result = next;
      if (found <= workerData.chaseFramesMax) break;
    }
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
 * WAL from its start at its next transaction once everything in it is copied, as it does after its own checkpoints;
 * past `restartFramesMin` frames it copies what the thread's rounds left itself, so that happens (finishCheckpoint).
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
    private readonly restartFramesMin = restartFramesMinDefault,
  ) {
    assert(!db.memory, "a memory database has no WAL to checkpoint");
    assert(Number.isFinite(everyMs) && everyMs >= 0, "everyMs must be a finite number of milliseconds, 0 or more");
    const betterSqlitePath = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(threadSource, {
      eval: true,
      workerData: { betterSqlitePath, databasePath: db.name, roundsMax: checkpointRoundsMax, chaseFramesMax },
    });
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
      if (reply.frames >= this.restartFramesMin) this.finishCheckpoint();
    } else {
      // The disk (full, failing) refused: the WAL keeps everything, the next checkpoint tries again, the backstop bounds it.
      log.warn({ code: reply.code, err: { message: reply.message } }, "WAL checkpoint failed; the WAL keeps it all until one succeeds");
    }
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /**
   * The writer copies what was committed while the thread copied, between its own transactions, so that nothing of the
   * WAL is left uncopied when its next transaction starts: SQLite then writes the WAL from its start again. Otherwise a
   * commit during every checkpoint (at 1,000 payments/s one lands every few milliseconds) kept the WAL growing until
   * the backstop, where this connection copied up to 250 ms of commits inside a COMMIT (2026-12-04, 1,000/s: 40 MB of
   * WAL a second, restarted every 0.5-1.5 s). Here it copies what the thread's last round left (at most a few dozen
   * frames) and syncs the WAL and the file: 2-3 ms on this loop at the median, 6 at the 90th percentile, 18 at most
   * (1,000/s, 3 runs, about one a second). What it buys is a bounded WAL and no backstop copy inside a COMMIT; the
   * open loop's p99 at 1,000/s did not move beyond this VM's noise (4 rounds alternating the backstop, this, and this
   * after every checkpoint: p99 106/198/87/130, 108/197/83/73 and 150/100/85/70 ms; node CPU level).
   */
  private finishCheckpoint(): void {
    if (!this.db.open || this.closing !== undefined) return;
    assert(!this.db.inTransaction, "a checkpoint reply arrives between transactions");
    try {
      const startedMs = performance.now();
      this.db.pragma("wal_checkpoint(PASSIVE)");
      log.debug({ tookMs: performance.now() - startedMs }, "WAL checkpoint finished by the writer");
    } catch (error) {
      // As the thread's: a disk that refused leaves the frames in the WAL for the next checkpoint, the backstop bounds it.
      if (!(error instanceof Database.SqliteError)) throw error;
      log.warn({ code: error.code, err: { message: error.message } }, "WAL checkpoint failed; the WAL keeps it all until one succeeds");
    }
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
