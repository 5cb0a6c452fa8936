import { workerData, type MessagePort } from "node:worker_threads";
import pg from "pg";
import { assert } from "../../core/assert.ts";

/**
 * The thread that holds pg-sync-db.ts's PostgreSQL connection: it takes one request at a time from the main
 * thread's port, runs it, posts the reply and wakes the main thread (which waits on `signal` with Atomics.wait).
 * Every request gets exactly one reply, a failed connection included, so the main thread is never left waiting
 * past its own deadline.
 */
export interface ConnectionThreadData {
  url: string;
  port: MessagePort;
  /** Int32 slot 0: the id of the last request whose reply is posted (set after posting it). */
  signal: SharedArrayBuffer;
  /** Set on the session: a statement (a lock wait included) running longer fails with 57014. */
  statementTimeoutMs: number;
}

export type ConnectionRequest =
  | { op: "query"; name: string; text: string; values: unknown[]; rowMode: "array" | "object" }
  | { op: "exec"; text: string }
  | { op: "close" };

export type ConnectionReply =
  | { ok: true; rows: unknown[]; rowCount: number }
  | { ok: false; message: string; sqlState: string; constraint: string | undefined };

/** What crosses the port: each request with its id (1…2^31−1, wrapping), and its reply with the same id. */
export type ConnectionMessage<T> = T & { id: number };

/** SQLSTATE class 08: the connection failed, or could not be made. */
const connectionFailed = "08006";

const int8Oid = 20;
const numericOid = 1700;

/** BIGINT and NUMERIC (what SUM returns) read back as numbers; one outside the safe range is a bug, not a rounding. */
function parseSafeInteger(text: string): number {
  const value = Number(text);
  assert(Number.isSafeInteger(value), `integer ${text} is outside the safe range`);
  return value;
}

const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === int8Oid || oid === numericOid ? parseSafeInteger : pg.types.getTypeParser(oid, format ?? "text")) as typeof pg.types.getTypeParser,
};

const { url, port, signal, statementTimeoutMs } = workerData as ConnectionThreadData;
const wake = new Int32Array(signal);
const client = new pg.Client({ connectionString: url, types });
let broken: Error | undefined;
// A server that goes away between requests must not end this thread: the next request answers with the failure.
client.on("error", (error) => (broken = error));
const connected = client
  .connect()
  .then(() =>
    // Transactions say their own isolation (pg-sync-db.ts); a statement outside one is atomic on its own, as on SQLite.
    client.query(`SET statement_timeout = ${Math.trunc(statementTimeoutMs)}`),
  )
  .catch((error: unknown) => {
    broken = error as Error;
  });

function failure(error: unknown): ConnectionReply {
  const e = error as { message?: string; code?: unknown; constraint?: string };
  const sqlState = typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : connectionFailed;
  return { ok: false, message: e.message ?? String(error), sqlState, constraint: e.constraint };
}

/** Uint8Array parameters (a structured clone of a Buffer arrives as one) go to pg as the Buffers it sends as bytea. */
function asPgValue(value: unknown): unknown {
  return value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value;
}

async function run(request: ConnectionRequest): Promise<ConnectionReply> {
  await connected;
  if (broken) return failure(broken);
  try {
    switch (request.op) {
      case "query": {
        const query = { name: request.name, text: request.text, values: request.values.map(asPgValue) };
        const result = request.rowMode === "array" ? await client.query({ ...query, rowMode: "array" }) : await client.query(query);
        return { ok: true, rows: result.rows as unknown[], rowCount: result.rowCount ?? 0 };
      }
      case "exec":
        await client.query(request.text);
        return { ok: true, rows: [], rowCount: 0 };
      case "close":
        await client.end();
        return { ok: true, rows: [], rowCount: 0 };
    }
  } catch (error) {
    return failure(error);
  }
}

let queue: Promise<void> = Promise.resolve();
port.on("message", (request: ConnectionMessage<ConnectionRequest>) => {
  queue = queue.then(async () => {
    const reply = await run(request);
    port.postMessage({ ...reply, id: request.id } satisfies ConnectionMessage<ConnectionReply>);
    Atomics.store(wake, 0, request.id);
    Atomics.notify(wake, 0);
    if (request.op === "close") port.close();
  });
});
