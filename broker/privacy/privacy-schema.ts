import type { SchemaComponent } from "../ledger/sqlite-db.ts";

/**
 * Privacy records: the consents people gave (and withdrew), the per-person data keys their personal fields are
 * sealed under (personal-keys.ts), and the erasures done. A destroyed key keeps its row with `wrapped_key` NULL,
 * so what was shredded, when and why stays answerable.
 */
export const privacySchema: SchemaComponent = {
  name: "privacy",
  migrations: [
    {
      version: 1,
      description: "consents, per-person data keys, erasures",
      sql: `
        CREATE TABLE privacy_consents (
          consent_id INTEGER PRIMARY KEY,
          person TEXT NOT NULL,
          purpose TEXT NOT NULL CHECK (purpose IN ('glasses_voiceprint', 'agent_mandate')),
          text_version TEXT NOT NULL,
          text TEXT NOT NULL,
          subject TEXT NOT NULL,
          signature BLOB,
          signed_message BLOB,
          given_at_ms INTEGER NOT NULL,
          withdrawn_at_ms INTEGER,
          withdrawn_by TEXT,
          CHECK ((signature IS NULL) = (signed_message IS NULL)),
          CHECK ((withdrawn_at_ms IS NULL) = (withdrawn_by IS NULL))
        ) STRICT;
        CREATE INDEX privacy_consents_by_person ON privacy_consents (person);
        CREATE UNIQUE INDEX privacy_consents_active ON privacy_consents (purpose, subject) WHERE withdrawn_at_ms IS NULL;
        CREATE INDEX privacy_consents_withdrawn ON privacy_consents (withdrawn_at_ms) WHERE withdrawn_at_ms IS NOT NULL;
        CREATE TABLE privacy_data_keys (
          person TEXT NOT NULL,
          kind TEXT NOT NULL,
          period_start_ms INTEGER NOT NULL,
          wrapped_key BLOB,
          created_at_ms INTEGER NOT NULL,
          shredded_at_ms INTEGER,
          shred_reason TEXT CHECK (shred_reason IN ('erase', 'retention')),
          PRIMARY KEY (person, kind, period_start_ms),
          CHECK ((wrapped_key IS NULL) = (shredded_at_ms IS NOT NULL)),
          CHECK ((shredded_at_ms IS NULL) = (shred_reason IS NULL))
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX privacy_data_keys_live ON privacy_data_keys (kind, period_start_ms) WHERE wrapped_key IS NOT NULL;
        -- The review schema migrates first; this index serves retention's pass over decided cases' context only.
        CREATE INDEX privacy_review_context_held ON review_cases (decided_at_ms) WHERE decided_at_ms IS NOT NULL AND context != '{}';
        CREATE TABLE privacy_erasures (
          person TEXT PRIMARY KEY,
          erased_at_ms INTEGER NOT NULL,
          erased_by TEXT NOT NULL,
          evidence_seq INTEGER NOT NULL
        ) STRICT;
      `,
    },
  ],
};
