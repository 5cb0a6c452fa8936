import pg from "pg";
import { assert } from "../../core/assert.ts";
import { logger } from "../../core/log.ts";
import type { Clock } from "../../core/sources.ts";
import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import type { InvariantReport } from "../ledger/ledger.ts";
import { invariantQueries, proveBooks, type InvariantRows } from "../ledger/ledger-rules.ts";
import { transactionAttemptsMax, type DataStore, type DataTx } from "./data-store.ts";
import { migratePg } from "./pg-migrate.ts";
import { PgTx } from "./pg-tx.ts";

const log = logger("tapwire:pg-store");

export interface PgDataStoreOptions {
  /** `postgres://user@host:port/database`. */
  url: string;
  clock: Clock;
  /** Connections this process keeps; a worker runs one batch transaction at a time. Default 4. */
  connectionsMax?: number;
}

const int8Oid = 20;

/** BIGINT columns (amounts, times, ids) come back as numbers; one beyond the safe range is a bug, not a rounding. */
function parseSafeInteger(text: string): number {
  const value = Number(text);
  assert(Number.isSafeInteger(value), `BIGINT ${text} is outside the safe integer range`);
  return value;
}

const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === int8Oid ? parseSafeInteger : pg.types.getTypeParser(oid, format ?? "text")) as typeof pg.types.getTypeParser,
};

/** Another worker's transaction got there first: roll back and run the work again. */
const retriedSqlStates: ReadonlySet<string> = new Set(["40001", "40P01"]);
/** Unique keys two workers may both try to insert for one request (a redelivered message): the retry finds the winner's row. */
const retriedConstraints: ReadonlySet<string> = new Set(["settlement_decisions_pkey"]);

function isConflict(error: unknown): boolean {
  if (!(error instanceof pg.DatabaseError) || error.code === undefined) return false;
  return retriedSqlStates.has(error.code) || (error.code === "23505" && retriedConstraints.has(error.constraint ?? ""));
}

/** The database unreachable or gone is an operating fault (LedgerStorage); anything else it says is a bug. */
function storageFault(error: unknown): TapwireError | undefined {
  if (isTapwireError(error)) return undefined;
  const code = (error as { code?: unknown }).code;
  const unreachable = typeof code === "string" && (code.startsWith("08") || code.startsWith("57P") || code.startsWith("E"));
  return unreachable ? new TapwireError(`PostgreSQL: ${(error as Error).message}`, ErrorCode.LedgerStorage, { sqlState: code }) : undefined;
}

/**
 * The shared engine: several settlement workers on one PostgreSQL database. Each transaction runs on its own
 * pooled connection at READ COMMITTED; rows are serialized where money needs it (a balance or budget moved by a
 * guarded UPDATE, a hub's window locked by lockHubWindow), and a conflict with another worker is retried.
 */
export class PgDataStore implements DataStore {
  readonly engine = "postgres";
  private retried = 0;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly clock: Clock,
  ) {}

  /** Connects and migrates (under the advisory lock, so workers may all start at once). */
  static async open(options: PgDataStoreOptions): Promise<PgDataStore> {
    const pool = new pg.Pool({ connectionString: options.url, max: options.connectionsMax ?? 4, types });
    // An idle connection the server drops must not crash the process: the next query reconnects.
    pool.on("error", (error) => log.warn({ err: error }, "idle PostgreSQL connection failed"));
    try {
      const client = await pool.connect();
      try {
        await migratePg(client, options.clock);
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end();
      throw storageFault(error) ?? error;
    }
    return new PgDataStore(pool, options.clock);
  }

  async transaction<T>(work: (tx: DataTx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect().catch((error: unknown) => {
        throw storageFault(error) ?? error;
      });
      let broken: Error | undefined;
      try {
        await client.query("BEGIN");
        const result = await work(new PgTx(client, this.clock));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch((rollbackError: unknown) => (broken = rollbackError as Error));
        if (attempt < transactionAttemptsMax && isConflict(error)) {
          this.retried += 1;
          log.debug({ attempt, sqlState: (error as pg.DatabaseError).code }, "transaction conflicted with another worker's; retrying");
          continue;
        }
        throw storageFault(error) ?? error;
      } finally {
        client.release(broken);
      }
    }
  }

  /** Transactions run again after a conflict with another worker's (deadlock, serialization, a key it inserted first). */
  get conflictRetries(): number {
    return this.retried;
  }

  async checkInvariants(): Promise<InvariantReport> {
    const client = await this.pool.connect();
    try {
      // One snapshot for every query, so a worker committing meanwhile cannot make the books look unbalanced.
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const rows: Partial<InvariantRows> = {};
      for (const [name, sql] of Object.entries(invariantQueries)) rows[name as keyof InvariantRows] = (await client.query(sql)).rows;
      await client.query("COMMIT");
      return proveBooks(rows as InvariantRows);
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
