import type Database from "better-sqlite3";

/**
 * Prepares each SQL text once per connection; statements are reused on every call. Both sides keep SQLite (the
 * service's ledger, a hub's journal), and preparing a statement costs more than running a small one.
 */
export class StatementCache {
  private readonly statements = new Map<string, Database.Statement>();
  constructor(private readonly db: Database.Database) {}

  sql<P extends unknown[] = unknown[], R = unknown>(text: string): Database.Statement<P, R> {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement as unknown as Database.Statement<P, R>;
  }
}
