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
      // PostgreSQL's triggers call a function; the same guard, the same message.
      postgres: `
        CREATE TABLE evidence (
          seq BIGINT PRIMARY KEY,
          kind TEXT NOT NULL CHECK (kind IN ('request', 'decision', 'operator')),
          principal TEXT NOT NULL,
          request_id TEXT NOT NULL,
          bytes BYTEA NOT NULL,
          bytes_hash BYTEA NOT NULL,
          prev_hash BYTEA NOT NULL,
          row_hash BYTEA NOT NULL,
          recorded_at_ms BIGINT NOT NULL
        );
        CREATE FUNCTION evidence_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'evidence is append-only'; END $$;
        CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence FOR EACH ROW EXECUTE FUNCTION evidence_append_only();
        CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence FOR EACH ROW EXECUTE FUNCTION evidence_append_only();
      `,
    },
  ],
};
