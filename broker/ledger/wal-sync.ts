import { open, type FileHandle } from "node:fs/promises";
import { assert } from "../../core/assert.ts";
import type { SqlDb } from "../../core/sql-db.ts";
import type { SqliteDb } from "./sqlite-db.ts";
import { WalCheckpointer } from "./wal-checkpointer.ts";
import Database from "better-sqlite3";

/**
 * When what a commit wrote is on disk. A group commit answers its senders only once this resolves for it.
 *
 * - `unsynced(work)` runs a transaction whose commit may return before its pages reach the disk;
 * - `synced()` resolves once everything committed before the call is on disk (rejects if the disk refused it).
 */
export interface Durability {
  unsynced<T>(work: () => T): T;
  synced(): Promise<void>;
  /** After the last batch answered, before the database closes. */
  close(): Promise<void>;
}

/** PostgreSQL commits durably (synchronous_commit), and a memory database has no disk: nothing to wait for. */
export const durableAtCommit: Durability = {
  unsynced: (work) => work(),
  synced: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

/** The file fsync'd: WAL mode appends every commit to it, and a checkpoint syncs it before copying it back. */
function walPathOf(databasePath: string): string {
  return `${databasePath}-wal`;
}

/** One fdatasync: how a file's written pages reach the disk (injected in tests to hold or fail a sync). */
export type SyncFile = (path: string) => Promise<void>;

/**
 * Descriptors of the files synced, each opened once and kept: an open and a close are two more trips through libuv's
 * thread pool, whose threads wait for a core on a loaded machine (measured: a sync's p50 from 52 to 27 ms under the
 * bench's load). A `-wal` file lives as long as any connection to its database (the last one to close deletes it),
 * so for the service's own connection the descriptor stays right. SQLite holds its POSIX locks on the database and
 * `-shm` files, never on `-wal`, so this descriptor's close releases none of them.
 */
export class SyncedFiles {
  private readonly handles = new Map<string, Promise<FileHandle>>();

  readonly syncFile: SyncFile = async (path) => {
    let handle = this.handles.get(path);
    if (handle === undefined) {
      handle = open(path, "r");
      this.handles.set(path, handle);
      handle.catch(() => this.handles.delete(path));
    }
    await (await handle).datasync();
  };

  async close(): Promise<void> {
    const handles = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(handles.map(async (handle) => (await handle).close()));
  }
}

/** fdatasync(2) through a descriptor opened for it and closed after: for a sync now and then (a reader's). */
export const fdatasyncFile: SyncFile = async (path) => {
  const handle = await open(path, "r");
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
};

/**
 * Group commit with the fsync off the event loop (SQLite in WAL mode). A batch commits with synchronous=NORMAL,
 * so COMMIT only appends the batch's frames to `-wal` (no fsync on the main thread); then one fdatasync of `-wal`,
 * on the thread pool, makes it durable, and only then does the batch answer. While that runs, the main thread
 * works on the next batch; its sync starts once the running one ends and covers every commit before it. Nothing
 * is announced before it is on disk: what synchronous=FULL gives, paid by another thread. The connection's other
 * writers (enrolment, reviews, sweeps) keep synchronous=FULL, and a checkpoint syncs `-wal` before it copies it.
 *
 * A sync that fails rejects; the caller must crash (as PostgreSQL does on a failed fsync: the kernel may have
 * dropped the pages, and a retry would report success for data that is gone). Nothing unsynced was announced.
 * With a `checkpointer`, the WAL is copied back into the database file on its thread after commits, not in COMMIT.
 */
export class WalSync implements Durability {
  /** The sync running now, and the one that starts when it ends (shared by everyone asking meanwhile). */
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  private readonly files = new SyncedFiles();
  private readonly syncFile: SyncFile;

  /** `syncFile`: the simulated world's or a test's; by default a descriptor kept open on `-wal`. */
  constructor(
    private readonly db: SqliteDb,
    syncFile?: SyncFile,
    private readonly checkpointer?: WalCheckpointer,
  ) {
    this.syncFile = syncFile ?? this.files.syncFile;
    assert(!db.memory, "a memory database has nothing to sync");
    assert(db.pragma("journal_mode", { simple: true }) === "wal", "WalSync needs journal_mode=WAL");
  }

  /** SQLite files on disk get a WalSync (checkpointed on a thread when `checkpointThread`); the rest is durable at commit. */
  static of(db: SqlDb, syncFile?: SyncFile, checkpointThread = false): Durability {
    if (!(db instanceof Database) || db.memory) return durableAtCommit;
    return new WalSync(db, syncFile, checkpointThread ? new WalCheckpointer(db) : undefined);
  }

  unsynced<T>(work: () => T): T {
    assert(!this.db.inTransaction, "an unsynced commit starts outside any transaction");
    // exec, not a prepared statement run twice: SQLite applies this pragma when it compiles it.
    this.db.exec("PRAGMA synchronous = NORMAL");
    try {
      const result = work();
      this.checkpointer?.committed();
      return result;
    } finally {
      this.db.exec("PRAGMA synchronous = FULL");
    }
  }

  async close(): Promise<void> {
    await this.checkpointer?.close();
    await this.files.close();
  }

  synced(): Promise<void> {
    if (this.running === undefined) return this.start();
    // The running sync may have started before the caller's commit: wait for the one after it.
    this.next ??= this.running.then(
      () => this.start(),
      () => this.start(),
    );
    return this.next;
  }

  private start(): Promise<void> {
    this.next = undefined;
    const sync = this.syncFile(walPathOf(this.db.name));
    this.running = sync;
    const done = () => {
      if (this.running === sync) this.running = undefined;
    };
    sync.then(done, done);
    return sync;
  }
}

/**
 * For a reader on its own connection about to pass on what it read (the merchant feed): makes `-wal` durable, so
 * nothing it tells is lost in a power cut after a commit that had not been synced yet. A missing `-wal` means the
 * last connection checkpointed it into the database file and synced that.
 */
export async function syncCommitted(databasePath: string, syncFile: SyncFile = fdatasyncFile): Promise<void> {
  try {
    await syncFile(walPathOf(databasePath));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}
