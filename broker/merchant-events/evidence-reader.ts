import Database from "better-sqlite3";
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
 * The settlement database opened read-only beside a running service (SQLite WAL: readers never block it), for
 * the evidence rows after a seq and the merchant of a hub. Never writes, never migrates.
 */
export class EvidenceReader {
  private readonly db: Database.Database;
  private readonly after: Database.Statement<[number, number], Row>;
  private readonly hubMerchant: Database.Statement<[string], { merchant_id: string }>;
  private readonly paymentMerchant: Database.Statement<[number], { merchant_id: string }>;
  private readonly agentPaymentMerchant: Database.Statement<[number], { merchant_id: string }>;

  constructor(path: string) {
    try {
      this.db = new Database(path, { readonly: true, fileMustExist: true });
      this.after = this.db.prepare("SELECT seq, kind, principal, request_id, bytes, recorded_at_ms FROM evidence WHERE seq > ? ORDER BY seq LIMIT ?");
      this.hubMerchant = this.db.prepare("SELECT merchant_id FROM registry_hubs WHERE hub_id = ?");
      this.paymentMerchant = this.db.prepare("SELECT merchant_id FROM settlement_payments WHERE payment_id = ?");
      this.agentPaymentMerchant = this.db.prepare("SELECT merchant_id FROM agent_payments WHERE payment_id = ?");
    } catch (error) {
      throw new TapwireError(`cannot read the settlement database ${path}: ${(error as Error).message}`, ErrorCode.ConfigInvalid, { path }, { cause: error });
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

  close(): void {
    this.db.close();
  }
}
