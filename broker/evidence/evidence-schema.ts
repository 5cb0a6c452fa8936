import type { SchemaComponent } from "../ledger/sqlite-db.ts";

/**
 * Append-only evidence: every accepted signed request and every signed decision, as bytes exactly as
 * received or sent, hash-chained row to row (so a changed, removed or reordered row breaks the chain), and
 * guarded by triggers against UPDATE and DELETE through this connection.
 */
export const evidenceSchema: SchemaComponent = {
  name: "evidence",
  migrations: [
    {
      version: 1,
      description: "hash-chained evidence of requests, decisions and operator actions",
      sql: `
        CREATE TABLE evidence (
          seq INTEGER PRIMARY KEY,
          kind TEXT NOT NULL CHECK (kind IN ('request', 'decision', 'operator')),
          principal TEXT NOT NULL,
          request_id TEXT NOT NULL,
          bytes BLOB NOT NULL,
          bytes_hash BLOB NOT NULL,
          prev_hash BLOB NOT NULL,
          row_hash BLOB NOT NULL,
          recorded_at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END;
        CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END;
      `,
    },
  ],
};
