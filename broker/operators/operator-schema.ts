import type { SchemaComponent } from "../ledger/sqlite-db.ts";

/**
 * Operators: people who act on the settlement side from the console (CN operators/<name>). Their login token is
 * kept only as a salted scrypt hash; the certificate serial says which client certificate is theirs.
 */
export const operatorSchema: SchemaComponent = {
  name: "operators",
  migrations: [
    {
      version: 1,
      description: "enrolled operators and their hashed login tokens",
      sql: `
        CREATE TABLE operators (
          operator_id TEXT PRIMARY KEY,
          certificate_serial TEXT NOT NULL,
          login_salt BLOB NOT NULL,
          login_hash BLOB NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
          enrolled_at_ms INTEGER NOT NULL,
          revoked_at_ms INTEGER
        ) STRICT;
      `,
    },
  ],
};
