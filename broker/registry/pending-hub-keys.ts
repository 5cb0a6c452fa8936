import { StatementCache } from "../ledger/sqlite-db.ts";
import { normalSerial } from "./revoked-certificates.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export interface PendingHubKey {
  hubId: string;
  publicKeyPem: string;
  certificateSerial: string;
  issuedAtMs: number;
}

/**
 * Certificates issued to hubs that renewed over their link and have not connected with them yet: the old one stays
 * valid until the hub connects with the new one (the switch), so a lost answer never leaves a hub without a working
 * certificate. One per hub; a second renewal replaces the first.
 */
export class PendingHubKeys {
  private readonly statements: StatementCache;

  constructor(db: SqlDb) {
    this.statements = new StatementCache(db);
  }

  put(pending: PendingHubKey): void {
    this.statements
      .sql<[string, string, string, number]>(
        "INSERT INTO registry_pending_hub_keys (hub_id, public_key_pem, certificate_serial, issued_at_ms) VALUES (?, ?, ?, ?) " +
          "ON CONFLICT (hub_id) DO UPDATE SET public_key_pem = excluded.public_key_pem, certificate_serial = excluded.certificate_serial, issued_at_ms = excluded.issued_at_ms",
      )
      .run(pending.hubId, pending.publicKeyPem, pending.certificateSerial, pending.issuedAtMs);
  }

  /** The pending key of this hub whose certificate has this serial, if that is the one presented. */
  matching(hubId: string, serialHex: string): PendingHubKey | undefined {
    const row = this.statements
      .sql<[string], { hub_id: string; public_key_pem: string; certificate_serial: string; issued_at_ms: number }>(
        "SELECT hub_id, public_key_pem, certificate_serial, issued_at_ms FROM registry_pending_hub_keys WHERE hub_id = ?",
      )
      .get(hubId);
    if (row === undefined || normalSerial(row.certificate_serial) !== normalSerial(serialHex)) return undefined;
    return { hubId: row.hub_id, publicKeyPem: row.public_key_pem, certificateSerial: row.certificate_serial, issuedAtMs: row.issued_at_ms };
  }

  clear(hubId: string): void {
    this.statements.sql<[string]>("DELETE FROM registry_pending_hub_keys WHERE hub_id = ?").run(hubId);
  }
}
