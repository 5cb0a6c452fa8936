import Database from "better-sqlite3";
import type { SqlDb, SqlStatement } from "../../core/sql-db.ts";
import { PgSyncDb } from "../store/pg-sync-db.ts";
import { fdatasyncFile, syncCommitted, type SyncFile } from "../ledger/wal-sync.ts";
import { describeStore, isPostgresUrl } from "../store/store-location.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { paymentRowOf } from "../settlement/disputes.ts";
import type { EvidenceEntry } from "./merchant-event.ts";

interface Row {
  seq: number;
  kind: EvidenceEntry["kind"];
  principal: string;
  request_id: string;
  bytes: Buffer;
  recorded_at_ms: number;
}

/**
 * The settlement database opened read-only beside a running service (SQLite WAL: readers never block it; on
 * PostgreSQL a connection of its own), for the evidence rows after a seq and the merchant of a hub. Never writes,
 * never migrates.
 */
export class EvidenceReader {
  private readonly db: SqlDb;
  private readonly after: SqlStatement<[number, number], Row>;
  private readonly hubMerchant: SqlStatement<[string], { merchant_id: string }>;
  private readonly paymentMerchant: SqlStatement<[number], { merchant_id: string }>;
  private readonly agentPaymentMerchant: SqlStatement<[number], { merchant_id: string }>;

  /** `path`: the SQLite file, or the postgres:// URL the service runs on; `syncFile`: how its `-wal` reaches the disk. */
  constructor(
    private readonly path: string,
    private readonly syncFile: SyncFile = fdatasyncFile,
  ) {
    try {
      this.db = isPostgresUrl(path) ? new PgSyncDb(path) : new Database(path, { readonly: true, fileMustExist: true });
      this.after = this.db.prepare("SELECT seq, kind, principal, request_id, bytes, recorded_at_ms FROM evidence WHERE seq > ? ORDER BY seq LIMIT ?");
      this.hubMerchant = this.db.prepare("SELECT merchant_id FROM registry_hubs WHERE hub_id = ?");
      this.paymentMerchant = this.db.prepare("SELECT merchant_id FROM settlement_payments WHERE payment_id = ?");
      this.agentPaymentMerchant = this.db.prepare("SELECT merchant_id FROM agent_payments WHERE payment_id = ?");
    } catch (error) {
      throw new TapwireError(`cannot read the settlement database ${describeStore(path)}: ${(error as Error).message}`, ErrorCode.ConfigInvalid, { path: describeStore(path) }, { cause: error });
    }
  }

  /** Rows with seq above `afterSeq`, oldest first, at most `limit`. */
  entriesAfter(afterSeq: number, limit: number): EvidenceEntry[] {
    return this.after.all(afterSeq, limit).map((row) => ({
      seq: row.seq,
      kind: row.kind,
      principal: row.principal,
      requestId: row.request_id,
      bytes: new Uint8Array(row.bytes),
      recordedAtMs: row.recorded_at_ms,
    }));
  }

  merchantOfHub(hubId: string): string | undefined {
    return this.hubMerchant.get(hubId)?.merchant_id;
  }

  merchantOfPayment(paymentId: string): string | undefined {
    const row = paymentRowOf(paymentId);
    if (row === undefined) return undefined;
    return (row.kind === "hub" ? this.paymentMerchant : this.agentPaymentMerchant).get(row.rowId)?.merchant_id;
  }

  /**
   * Resolves once what was read so far is on disk: the service answers a batch only after syncing it, but its commit
   * is visible to this connection a few milliseconds before (ledger/wal-sync.ts). PostgreSQL commits durably.
   */
  committedDurable(): Promise<void> {
    return isPostgresUrl(this.path) ? Promise.resolve() : syncCommitted(this.path, this.syncFile);
  }

  close(): void {
    this.db.close();
  }
}
