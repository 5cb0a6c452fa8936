import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { assert } from "../../core/assert.ts";
import { logger } from "../../core/log.ts";
import type { SqlDb, SqlRunResult, SqlStatement, SqlTransaction } from "../../core/sql-db.ts";
import type { ConnectionMessage, ConnectionReply, ConnectionRequest, ConnectionThreadData } from "./pg-connection-thread.ts";
import { pgPlaceholders } from "./pg-dialect.ts";

const log = logger("tapwire:pg");

/** A statement (lock waits included) running longer than this fails (57014) and its transaction with it. */
export const pgStatementTimeoutMs = 10_000;
/** How long the main thread waits for the connection thread beyond the statement timeout before calling it lost. */
const replyGraceMs = 5_000;
/** Runs of one transaction when other workers' transactions keep conflicting with it (then: LedgerStorage). */
export const pgTransactionAttemptsMax = 8;
/** Longest pause before running a conflicted transaction again (a random share of it: workers spread out). */
const conflictBackoffMsMax = 20;

/** Any fixed 64-bit number all workers use for the writers' lock (pg_advisory_lock on the session, around a transaction). */
const writersLockKey = 0x7461_7077_6972_6577n;

/** Another worker's transaction conflicted with this one: roll back and run it again. */
const conflictStates: ReadonlySet<string> = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "23505", // unique_violation: a key another worker inserted first (a redelivered request); the rerun reads it
]);

/** An error PostgreSQL (or the connection to it) answered, with its SQLSTATE. */
export class PgSqlError extends Error {
  readonly code: string;
  constructor(
    message: string,
    readonly sqlState: string,
    readonly constraint: string | undefined,
  ) {
    super(message);
    this.name = "PgSqlError";
    this.code = sqlState;
  }
}

/**
 * SQLSTATEs that mean the database, not the request or the code, is at fault: no connection (08), out of disk
 * or memory (53), shut down or restarting (57P), I/O (58), a statement or lock wait over its timeout (57014,
 * 55P03), and contention that outlasted every retry (40001, 40P01).
 */
export function isPgStorageState(sqlState: string): boolean {
  return /^(08|53|57P|58)/.test(sqlState) || ["57014", "55P03", "40001", "40P01"].includes(sqlState);
}

/** Int32Array views cannot sleep on their own: a pause in synchronous code is a wait nobody wakes. */
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * PostgreSQL behind the synchronous SqlDb the stores are written against: one connection, held by a thread of
 * its own (pg-connection-thread.ts); each call posts its request and waits (Atomics.wait) for the reply. The
 * settlement pipeline is synchronous by design (one batch, one transaction, nothing interleaved), as it is on
 * SQLite, so a worker process blocks on its database exactly as it blocks on SQLite's fsync.
 *
 * Transactions run SERIALIZABLE: whatever several workers do at once, each transaction behaves as if it ran
 * alone, the guarantee SQLite's one writer gives, so every money rule the stores enforce on SQLite holds here
 * unchanged. Every transaction but a read (`deferred`) also queues for the writers' lock (outermost), as SQLite
 * lets one writer in at a time. A statement outside a transaction is atomic on its own (READ COMMITTED: a guarded
 * UPDATE re-checks its guard on the row it locks). A transaction that still conflicts with another's is rolled
 * back and its work run again (at most pgTransactionAttemptsMax times): work must only touch the database and
 * values it returns.
 */
export class PgSyncDb implements SqlDb {
  private connection: { worker: Worker; port: MessagePort; wake: Int32Array };
  private readonly statementNames = new Map<string, string>();
  private lastRequestId = 0;
  private depth = 0;
  private closed = false;
  /** Transactions run again after a conflict with another worker's, since this connection opened. */
  conflictRetries = 0;

  constructor(readonly url: string) {
    this.connection = PgSyncDb.connect(url);
  }

  /** A connection thread of its own, with the port and the flag the main thread waits on. */
  private static connect(url: string): { worker: Worker; port: MessagePort; wake: Int32Array } {
    const signal = new SharedArrayBuffer(4);
    const { port1, port2 } = new MessageChannel();
    const data: ConnectionThreadData = { url, port: port2, signal, statementTimeoutMs: pgStatementTimeoutMs };
    const worker = new Worker(connectionThreadUrl(), { workerData: data, transferList: [port2] });
    worker.unref();
    worker.on("error", (error) => log.error({ err: error }, "PostgreSQL connection thread failed"));
    return { worker, port: port1, wake: new Int32Array(signal) };
  }

  get inTransaction(): boolean {
    return this.depth > 0;
  }

  prepare<Params extends unknown[] | object = unknown[], Row = unknown>(source: string) {
    return new PgStatement<Params extends unknown[] ? Params : [Params], Row>(this, this.nameOf(source), pgPlaceholders(source)) as unknown as Params extends unknown[]
      ? SqlStatement<Params, Row>
      : SqlStatement<[Params], Row>;
  }

  exec(source: string): this {
    this.call({ op: "exec", text: source });
    return this;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  transaction<F extends (...params: any[]) => unknown>(work: F): SqlTransaction<F> {
    const run = (writer: boolean) => (...params: Parameters<F>) => (this.depth > 0 ? this.savepoint(work, params) : this.outermost(work, params, writer));
    // SQLite lets one writer in at a time, whether its transaction began DEFERRED or IMMEDIATE; only reads go beside it.
    return Object.assign(run(true), { immediate: run(true), deferred: run(false) }) as unknown as SqlTransaction<F>;
  }

  close(): this {
    if (this.closed) return this;
    this.closed = true;
    try {
      this.call({ op: "close" });
    } catch (error) {
      // Not closed as asked: the thread is ended from here. One that closed ends by itself (its client ended, its port
      // closed); terminating it as well raced its own exit, and a test process once died in V8 (trap int3) there.
      void this.connection.worker.terminate();
      throw error;
    }
    return this;
  }

  /** Sends one request and waits for its reply; a failure comes back as a PgSqlError. */
  call(request: ConnectionRequest): { rows: unknown[]; rowCount: number } {
    assert(!this.closed || request.op === "close", "the PostgreSQL connection is closed");
    const { port, wake, worker } = this.connection;
    this.lastRequestId = this.lastRequestId >= requestIdMax ? 1 : this.lastRequestId + 1;
    port.postMessage({ ...request, id: this.lastRequestId } satisfies ConnectionMessage<ConnectionRequest>);
    const reply = awaitReply(port, wake, this.lastRequestId, pgStatementTimeoutMs + replyGraceMs);
    if (reply === undefined) {
      // The thread's state is unknown (its reply may still come): it is replaced, and PostgreSQL ends whatever
      // transaction the old connection had open when its socket closes.
      void worker.terminate();
      this.connection = PgSyncDb.connect(this.url);
      throw new PgSqlError(`no answer from the PostgreSQL connection within ${pgStatementTimeoutMs + replyGraceMs} ms`, "08006", undefined);
    }
    if (!reply.ok) throw new PgSqlError(reply.message, reply.sqlState, reply.constraint);
    return reply;
  }

  /**
   * `writer` (every transaction but a read: a settlement batch, a sweep, an operator's decision, a migration) takes
   * the writers' lock first, so writers run one after the other as on SQLite: a batch touches the same hot rows as
   * every other (the merchant's account, the evidence chain's head), and queueing for them beats doing the work and
   * losing it to a conflict (a sweep running beside a batch made serialization failures past every retry). Reads
   * run beside them and are run again when they conflict.
   */
  private outermost<F extends (...params: never[]) => unknown>(work: F, params: Parameters<F>, writer: boolean): ReturnType<F> {
    // Taken before BEGIN, on the session: a SERIALIZABLE transaction's snapshot is its first statement's, so a lock
    // awaited inside it would leave the transaction reading what was there before the writer it waited for.
    if (writer) this.exec(`SELECT pg_advisory_lock(${writersLockKey})`);
    try {
      for (let attempt = 1; ; attempt += 1) {
        this.exec("BEGIN ISOLATION LEVEL SERIALIZABLE");
        this.depth = 1;
        try {
          const result = work(...params) as ReturnType<F>;
          this.exec("COMMIT");
          return result;
        } catch (error) {
          this.rollback();
          if (!(error instanceof PgSqlError) || !conflictStates.has(error.sqlState) || attempt >= pgTransactionAttemptsMax) throw error;
          this.conflictRetries += 1;
          log.debug({ attempt, sqlState: error.sqlState, constraint: error.constraint }, "transaction conflicted with another worker's: running it again");
          Atomics.wait(pause, 0, 0, Math.random() * conflictBackoffMsMax * attempt);
        } finally {
          this.depth = 0;
        }
      }
    } finally {
      if (writer) this.unlockWriters();
    }
  }

  /** A connection that is gone took its session's lock with it: the failure that ended the work is what counts. */
  private unlockWriters(): void {
    try {
      this.exec(`SELECT pg_advisory_unlock(${writersLockKey})`);
    } catch (error) {
      log.warn({ err: error }, "writers' lock release failed; PostgreSQL releases it with the session");
    }
  }

  private savepoint<F extends (...params: never[]) => unknown>(work: F, params: Parameters<F>): ReturnType<F> {
    const name = `tapwire_${this.depth}`;
    this.exec(`SAVEPOINT ${name}`);
    this.depth += 1;
    try {
      const result = work(...params) as ReturnType<F>;
      this.exec(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (error) {
      // A refusal inside (a typed TapwireError the caller handles) leaves the outer transaction usable.
      this.exec(`ROLLBACK TO SAVEPOINT ${name}`);
      throw error;
    } finally {
      this.depth -= 1;
    }
  }

  /** A rollback that fails (the connection is gone) must not hide why the transaction ended. */
  private rollback(): void {
    try {
      this.exec("ROLLBACK");
    } catch (error) {
      log.warn({ err: error }, "rollback failed; PostgreSQL ends the transaction with the connection");
    }
  }

  private nameOf(source: string): string {
    let name = this.statementNames.get(source);
    if (name === undefined) {
      name = `tapwire_s${this.statementNames.size + 1}`;
      this.statementNames.set(source, name);
    }
    return name;
  }
}

const requestIdMax = 0x7fff_ffff;

/**
 * Waits (Atomics.wait on `wake`, at most `timeoutMs`) for the reply to request `id`, or undefined at the deadline.
 * Replies are matched by id, never by arrival: a wake-up can be stale (the thread stores the previous reply's id
 * and notifies after the main thread already took that reply, so the notify lands on the next wait) and a reply
 * can come late (to a request given up on at its deadline). Taking whatever message is on the port then would
 * hand every later statement the previous one's rows: one reply off for the rest of the connection.
 */
export function awaitReply(port: MessagePort, wake: Int32Array, id: number, timeoutMs: number): ConnectionReply | undefined {
  const deadlineMs = performance.now() + timeoutMs;
  for (;;) {
    for (let message = receiveMessageOnPort(port); message !== undefined; message = receiveMessageOnPort(port)) {
      const reply = message.message as ConnectionMessage<ConnectionReply>;
      if (reply.id === id) return reply;
      log.warn({ id: reply.id, waitingFor: id }, "dropped the late reply to a PostgreSQL request given up on");
    }
    const remainingMs = deadlineMs - performance.now();
    if (remainingMs <= 0) return undefined;
    // The thread posts a reply before storing its id: once the slot holds `id`, the port holds the reply.
    const seen = Atomics.load(wake, 0);
    if (seen !== id) Atomics.wait(wake, 0, seen, remainingMs);
  }
}

/** Bytea values come back from the thread as Uint8Arrays; better-sqlite3 gives Buffers, and so does this. */
function asBuffers(value: unknown): unknown {
  return value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value;
}

function rowOf(row: unknown): unknown {
  if (Array.isArray(row)) return row.map(asBuffers);
  if (row === null || typeof row !== "object") return row;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) out[key] = asBuffers(value);
  return out;
}

class PgStatement<Params extends unknown[], Row> implements SqlStatement<Params, Row> {
  private plucked = false;

  constructor(
    private readonly db: PgSyncDb,
    private readonly name: string,
    private readonly text: string,
  ) {}

  run(...params: Params): SqlRunResult {
    return { changes: this.query(params).rowCount };
  }

  get(...params: Params): Row | undefined {
    return this.query(params).rows[0] as Row | undefined;
  }

  all(...params: Params): Row[] {
    return this.query(params).rows as Row[];
  }

  pluck(toggleState = true): this {
    this.plucked = toggleState;
    return this;
  }

  private query(params: unknown[]): { rows: unknown[]; rowCount: number } {
    // As better-sqlite3 binds it: undefined is NULL.
    const values = params.map((p) => (p === undefined ? null : p));
    const { rows, rowCount } = this.db.call({ op: "query", name: this.name, text: this.text, values, rowMode: this.plucked ? "array" : "object" });
    return { rows: rows.map((row) => (this.plucked ? asBuffers((row as unknown[])[0]) : rowOf(row))), rowCount };
  }
}

function connectionThreadUrl(): URL {
  return new URL(import.meta.url.endsWith(".js") ? "./pg-connection-thread.js" : "./pg-connection-thread.mjs", import.meta.url);
}
