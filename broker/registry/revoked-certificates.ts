import { StatementCache } from "../ledger/sqlite-db.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export const revokedListMax = 10_000;

/**
 * The certificate revocation list the broker reads: serials it refuses at connect whatever the CN says (a rotated
 * hub's old certificate). Principals revoked as a whole (a hub, a wallet, an agent) are refused by their status.
 */
export class RevokedCertificates {
  private readonly statements: StatementCache;

  constructor(db: SqlDb) {
    this.statements = new StatementCache(db);
  }

  revoke(serialHex: string, principal: string, reason: string, nowMs: number): void {
    this.statements
      .sql<[string, string, string, number]>("INSERT INTO registry_revoked_certificates (serial_hex, principal, reason, revoked_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
      .run(normalSerial(serialHex), principal, reason, nowMs);
  }

  isRevoked(serialHex: string): boolean {
    return this.statements.sql<[string], number>("SELECT 1 FROM registry_revoked_certificates WHERE serial_hex = ?").pluck().get(normalSerial(serialHex)) !== undefined;
  }

  list(): Array<{ serialHex: string; principal: string; reason: string; revokedAtMs: number }> {
    return this.statements
      .sql<[number], { serial_hex: string; principal: string; reason: string; revoked_at_ms: number }>(
        "SELECT serial_hex, principal, reason, revoked_at_ms FROM registry_revoked_certificates ORDER BY revoked_at_ms LIMIT ?",
      )
      .all(revokedListMax)
      .map((row) => ({ serialHex: row.serial_hex, principal: row.principal, reason: row.reason, revokedAtMs: row.revoked_at_ms }));
  }
}

/** Node prints a peer certificate's serial in upper case and without leading zeros; we store it that way. */
export function normalSerial(serialHex: string): string {
  return serialHex.toUpperCase().replace(/^0+(?=.)/, "");
}
