import type { SqlDb, SqlStatement } from "./sql-db.ts";

/**
 * Prepares each SQL text once per connection; statements are reused on every call. Both sides keep SQL (the
 * service's ledger, a hub's journal), and preparing a statement costs more than running a small one.
 */
export class StatementCache {
  private readonly statements = new Map<string, SqlStatement>();
  constructor(private readonly db: SqlDb) {}

  sql<P extends unknown[] = unknown[], R = unknown>(text: string): SqlStatement<P, R> {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement as unknown as SqlStatement<P, R>;
  }
}
