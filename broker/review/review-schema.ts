import type { SchemaComponent } from "../ledger/sqlite-db.ts";

/**
 * Cases a person or an operator must answer (step-ups, reviews, disputes), with the payment they hold and
 * the full context shown to whoever decides; and the outbox of decisions pushed outside any request (an
 * operator's answer, an expiry), which the running node publishes even when the CLI wrote them.
 */
export const reviewSchema: SchemaComponent = {
  name: "review",
  migrations: [
    {
      version: 1,
      description: "review cases and pushed decisions",
      sql: `
        CREATE TABLE review_cases (
          case_seq INTEGER PRIMARY KEY,
          case_id TEXT NOT NULL UNIQUE,
          kind TEXT NOT NULL CHECK (kind IN ('step_up', 'human_review', 'dispute')),
          status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'declined', 'expired')),
          requester_kind TEXT NOT NULL CHECK (requester_kind IN ('hub', 'wallet', 'agent')),
          requester_id TEXT NOT NULL,
          decision_key TEXT NOT NULL,
          decision_hub_id TEXT NOT NULL,
          request_id TEXT NOT NULL,
          request_type TEXT NOT NULL,
          request_hash BLOB NOT NULL,
          wallet_id TEXT NOT NULL,
          held TEXT NOT NULL,
          context TEXT NOT NULL,
          reason TEXT NOT NULL,
          created_at_ms INTEGER NOT NULL,
          expires_at_ms INTEGER,
          decided_at_ms INTEGER,
          decided_by TEXT,
          outcome_code INTEGER
        ) STRICT;
        CREATE INDEX review_cases_by_status ON review_cases (status, expires_at_ms);
        CREATE TABLE review_pushes (
          push_id INTEGER PRIMARY KEY,
          kind TEXT NOT NULL,
          id TEXT NOT NULL,
          payload BLOB NOT NULL,
          exp_ms INTEGER NOT NULL,
          created_at_ms INTEGER NOT NULL,
          sent_at_ms INTEGER
        ) STRICT;
        CREATE INDEX review_pushes_unsent ON review_pushes (sent_at_ms, push_id);
      `,
    },
  ],
};
