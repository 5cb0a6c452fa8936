import { assert } from "../../core/assert.ts";
import { StatementCache } from "../ledger/sqlite-db.ts";
import { settlementListMax } from "./settlement-store.ts";
import type { SqlDb } from "../../core/sql-db.ts";

/** An offline sale the service declined when its hub forwarded it: the merchant gave the goods, unpaid. */
export interface OfflineLoss {
  lossId: number;
  hubId: string;
  requestId: string;
  merchantId: string;
  /** As the wallet's credential named it, enrolled or not. */
  walletId: string;
  amountMinor: number;
  currency: string;
  /** The decline's TapwireError code, as in the decision the hub got. */
  code: number;
  reason: string;
  /** The hub's clock at the sale. */
  capturedAtMs: number;
  recordedAtMs: number;
}

export type NewOfflineLoss = Omit<OfflineLoss, "lossId">;

export interface OfflineCaptureRow {
  hubId: string;
  requestId: string;
  amountMinor: number;
  capturedAtMs: number;
  forwardedAtMs: number;
}

/** Accepted offline captures of one hub in a window of capture time: how many and how much. */
export interface OfflineWindow {
  count: number;
  totalMinor: number;
}

interface LossRow {
  loss_id: number;
  hub_id: string;
  request_id: string;
  merchant_id: string;
  wallet_id: string;
  amount_minor: number;
  currency: string;
  code: number;
  reason: string;
  captured_at_ms: number;
  recorded_at_ms: number;
}

const lossColumns = "loss_id, hub_id, request_id, merchant_id, wallet_id, amount_minor, currency, code, reason, captured_at_ms, recorded_at_ms";

const toLoss = (r: LossRow): OfflineLoss => ({
  lossId: r.loss_id,
  hubId: r.hub_id,
  requestId: r.request_id,
  merchantId: r.merchant_id,
  walletId: r.wallet_id,
  amountMinor: r.amount_minor,
  currency: r.currency,
  code: r.code,
  reason: r.reason,
  capturedAtMs: r.captured_at_ms,
  recordedAtMs: r.recorded_at_ms,
});

/** The offline tables, row by row. Callers hold the transaction; nothing here opens one. */
export class OfflineStore {
  private readonly statements: StatementCache;

  constructor(db: SqlDb) {
    this.statements = new StatementCache(db);
  }

  /** Beside the payment row of the same (hub, request), in its transaction. */
  recordCapture(c: OfflineCaptureRow): void {
    this.statements
      .sql<[string, string, number, number, number]>(
        "INSERT INTO settlement_offline_captures (hub_id, request_id, amount_minor, captured_at_ms, forwarded_at_ms) VALUES (?, ?, ?, ?, ?)",
      )
      .run(c.hubId, c.requestId, c.amountMinor, c.capturedAtMs, c.forwardedAtMs);
  }

  /**
   * The hub's accepted captures made in [fromMs, toMs], reading at most `rowsMax` of them: a caller that
   * gets `rowsMax` back already knows the window is full.
   */
  window(hubId: string, fromMs: number, toMs: number, rowsMax: number): OfflineWindow {
    assert(Number.isSafeInteger(rowsMax) && rowsMax > 0 && rowsMax <= settlementListMax, `rowsMax ${rowsMax}`);
    const row = this.statements
      .sql<[string, number, number, number], { count: number; total: number | null }>(
        `SELECT COUNT(*) AS count, SUM(amount_minor) AS total FROM
           (SELECT amount_minor FROM settlement_offline_captures WHERE hub_id = ? AND captured_at_ms BETWEEN ? AND ? LIMIT ?) AS window_rows`,
      )
      .get(hubId, fromMs, toMs, rowsMax);
    assert(row, "aggregate query returns a row");
    return { count: row.count, totalMinor: row.total ?? 0 };
  }

  recordLoss(l: NewOfflineLoss): void {
    this.statements
      .sql<[string, string, string, string, number, string, number, string, number, number]>(
        `INSERT INTO settlement_offline_losses
           (hub_id, request_id, merchant_id, wallet_id, amount_minor, currency, code, reason, captured_at_ms, recorded_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(l.hubId, l.requestId, l.merchantId, l.walletId, l.amountMinor, l.currency, l.code, l.reason, l.capturedAtMs, l.recordedAtMs);
  }

  /** Losses in the order they were recorded, of one merchant or of all, at most `limit`. */
  losses(filter: { merchantId?: string; limit: number }): OfflineLoss[] {
    const { merchantId, limit } = filter;
    assert(Number.isSafeInteger(limit) && limit > 0 && limit <= settlementListMax, `limit ${limit}`);
    if (merchantId === undefined) {
      return this.statements.sql<[number], LossRow>(`SELECT ${lossColumns} FROM settlement_offline_losses ORDER BY loss_id LIMIT ?`).all(limit).map(toLoss);
    }
    return this.statements
      .sql<[string, number], LossRow>(`SELECT ${lossColumns} FROM settlement_offline_losses WHERE merchant_id = ? ORDER BY loss_id LIMIT ?`)
      .all(merchantId, limit)
      .map(toLoss);
  }
}
