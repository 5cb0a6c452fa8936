/**
 * The SQL connection every settlement store is written against, whichever engine holds the data: the subset of
 * better-sqlite3's synchronous API the stores use. SQLite (the embedded default) is better-sqlite3 itself, with
 * no layer between; PostgreSQL (several workers on one database) is pg-sync-db.ts, which serves the same calls
 * from a connection thread. Stores write SQL both engines run: `?` parameters, `ON CONFLICT`, `RETURNING`.
 */
export interface SqlRunResult {
  /** Rows the statement inserted, updated or deleted. (A new row's id: `RETURNING`, which both engines have.) */
  changes: number;
}

export interface SqlStatement<Params extends unknown[] = unknown[], Row = unknown> {
  run(...params: Params): SqlRunResult;
  get(...params: Params): Row | undefined;
  all(...params: Params): Row[];
  /** Rows come back as their first column's value. */
  pluck(toggleState?: boolean): this;
}

// better-sqlite3's own signature for a transaction's function.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type TransactionFunction = (...params: any[]) => unknown;
type ArgumentTypes<F extends TransactionFunction> = F extends (...args: infer A) => unknown ? A : never;

/**
 * `work` in one transaction, committed when it returns and rolled back when it throws; called inside another
 * transaction it is a savepoint. The variants name SQLite's locking modes; PostgreSQL runs them all alike.
 */
export interface SqlTransaction<F extends TransactionFunction> {
  (...params: ArgumentTypes<F>): ReturnType<F>;
  immediate(...params: ArgumentTypes<F>): ReturnType<F>;
  /** For reads: every table seen at one commit. */
  deferred(...params: ArgumentTypes<F>): ReturnType<F>;
}

export interface SqlDb {
  readonly inTransaction: boolean;
  // Shaped as better-sqlite3 declares it, so its Database is an SqlDb as it stands.
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  prepare<Params extends unknown[] | {} = unknown[], Row = unknown>(
    source: string,
  ): Params extends unknown[] ? SqlStatement<Params, Row> : SqlStatement<[Params], Row>;
  transaction<F extends TransactionFunction>(work: F): SqlTransaction<F>;
  /** Runs one or more statements without parameters (schema changes). */
  exec(source: string): this;
  close(): this;
}
