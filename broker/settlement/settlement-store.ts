import { assert } from "../../core/assert.ts";
import { StatementCache } from "../ledger/sqlite-db.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export type PaymentStatus = "captured" | "reversed";

export interface PaymentRecord {
  paymentId: number;
  hubId: string;
  requestId: string;
  merchantId: string;
  walletId: string;
  mode: string;
  amountMinor: number;
  currency: string;
  refundedMinor: number;
  status: PaymentStatus;
  batchId: string | undefined;
  transferId: number;
  capturedAtMs: number;
  reversedAtMs: number | undefined;
}

export type NewPayment = Pick<PaymentRecord, "hubId" | "requestId" | "merchantId" | "walletId" | "mode" | "amountMinor" | "currency" | "transferId" | "capturedAtMs">;

export interface BatchRecord {
  hubId: string;
  batchId: string;
  merchantId: string;
  currency: string;
  requestId: string;
  hubCount: number;
  hubTotalMinor: number;
  serviceCount: number;
  serviceTotalMinor: number;
  matched: boolean;
  closedAtMs: number;
}

/** Largest number of rows a read helper returns. */
export const settlementListMax = 10_000;

interface PaymentRow {
  payment_id: number;
  hub_id: string;
  request_id: string;
  merchant_id: string;
  wallet_id: string;
  mode: string;
  amount_minor: number;
  currency: string;
  refunded_minor: number;
  status: PaymentStatus;
  batch_id: string | null;
  transfer_id: number;
  captured_at_ms: number;
  reversed_at_ms: number | null;
}

interface BatchRow {
  hub_id: string;
  batch_id: string;
  merchant_id: string;
  currency: string;
  request_id: string;
  hub_count: number;
  hub_total_minor: number;
  service_count: number;
  service_total_minor: number;
  matched: number;
  closed_at_ms: number;
}

const paymentColumns =
  "payment_id, hub_id, request_id, merchant_id, wallet_id, mode, amount_minor, currency, refunded_minor, status, batch_id, transfer_id, captured_at_ms, reversed_at_ms";
const batchColumns =
  "hub_id, batch_id, merchant_id, currency, request_id, hub_count, hub_total_minor, service_count, service_total_minor, matched, closed_at_ms";

const toPayment = (r: PaymentRow): PaymentRecord => ({
  paymentId: r.payment_id,
  hubId: r.hub_id,
  requestId: r.request_id,
  merchantId: r.merchant_id,
  walletId: r.wallet_id,
  mode: r.mode,
  amountMinor: r.amount_minor,
  currency: r.currency,
  refundedMinor: r.refunded_minor,
  status: r.status,
  batchId: r.batch_id ?? undefined,
  transferId: r.transfer_id,
  capturedAtMs: r.captured_at_ms,
  reversedAtMs: r.reversed_at_ms ?? undefined,
});

const toBatch = (r: BatchRow): BatchRecord => ({
  hubId: r.hub_id,
  batchId: r.batch_id,
  merchantId: r.merchant_id,
  currency: r.currency,
  requestId: r.request_id,
  hubCount: r.hub_count,
  hubTotalMinor: r.hub_total_minor,
  serviceCount: r.service_count,
  serviceTotalMinor: r.service_total_minor,
  matched: r.matched === 1,
  closedAtMs: r.closed_at_ms,
});

/**
 * The books, row by row: payments, refunds, voids and batch reports (never pruned); the idempotency records are
 * decision-store.ts. Callers hold the transaction; nothing here opens one.
 */
export class SettlementStore {
  private readonly statements: StatementCache;

  constructor(db: SqlDb) {
    this.statements = new StatementCache(db);
  }

  insertPayment(p: NewPayment): PaymentRecord {
    const paymentId = this.statements
      .sql<[string, string, string, string, string, number, string, number, number], number>(
        `INSERT INTO settlement_payments
           (hub_id, request_id, merchant_id, wallet_id, mode, amount_minor, currency, refunded_minor, status, transfer_id, captured_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, 0, 'captured', ?, ?) RETURNING payment_id`,
      )
      .pluck()
      .get(p.hubId, p.requestId, p.merchantId, p.walletId, p.mode, p.amountMinor, p.currency, p.transferId, p.capturedAtMs);
    assert(paymentId !== undefined, "the insert returns its payment id");
    // The row is exactly what was inserted plus the column defaults above: no need to read it back.
    return {
      paymentId,
      hubId: p.hubId,
      requestId: p.requestId,
      merchantId: p.merchantId,
      walletId: p.walletId,
      mode: p.mode,
      amountMinor: p.amountMinor,
      currency: p.currency,
      refundedMinor: 0,
      status: "captured",
      batchId: undefined,
      transferId: p.transferId,
      capturedAtMs: p.capturedAtMs,
      reversedAtMs: undefined,
    };
  }

  findPayment(hubId: string, requestId: string): PaymentRecord | undefined {
    const row = this.statements
      .sql<[string, string], PaymentRow>(`SELECT ${paymentColumns} FROM settlement_payments WHERE hub_id = ? AND request_id = ?`)
      .get(hubId, requestId);
    return row ? toPayment(row) : undefined;
  }

  /** A merchant's payment by request id; when two of its hubs used the same id, the asking hub's wins. */
  findMerchantPayment(merchantId: string, requestId: string, preferredHubId: string): PaymentRecord | undefined {
    const row = this.statements
      .sql<[string, string, string], PaymentRow>(
        `SELECT ${paymentColumns} FROM settlement_payments WHERE merchant_id = ? AND request_id = ?
         ORDER BY hub_id = ? DESC, payment_id LIMIT 1`,
      )
      .get(merchantId, requestId, preferredHubId);
    return row ? toPayment(row) : undefined;
  }

  paymentsOf(merchantId: string, limit: number): PaymentRecord[] {
    assert(Number.isSafeInteger(limit) && limit > 0 && limit <= settlementListMax, `limit ${limit}`);
    return this.statements
      .sql<[string, number], PaymentRow>(`SELECT ${paymentColumns} FROM settlement_payments WHERE merchant_id = ? ORDER BY payment_id LIMIT ?`)
      .all(merchantId, limit)
      .map(toPayment);
  }

  addRefund(payment: PaymentRecord, hubId: string, requestId: string, amountMinor: number, transferId: number, nowMs: number): void {
    this.statements
      .sql<[number, string, string, number, number, number]>(
        `INSERT INTO settlement_refunds (payment_id, hub_id, request_id, amount_minor, transfer_id, refunded_at_ms) VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(payment.paymentId, hubId, requestId, amountMinor, transferId, nowMs);
    this.statements
      .sql<[number, number]>("UPDATE settlement_payments SET refunded_minor = refunded_minor + ? WHERE payment_id = ?")
      .run(amountMinor, payment.paymentId);
  }

  markReversed(paymentId: number, nowMs: number): void {
    const result = this.statements
      .sql<[number, number]>("UPDATE settlement_payments SET status = 'reversed', reversed_at_ms = ? WHERE payment_id = ? AND status = 'captured'")
      .run(nowMs, paymentId);
    assert(result.changes === 1, `payment ${paymentId} must be captured to be reversed`);
  }

  isVoided(hubId: string, requestId: string): boolean {
    return (
      this.statements.sql<[string, string], number>("SELECT 1 FROM settlement_voids WHERE hub_id = ? AND request_id = ?").pluck().get(hubId, requestId) !==
      undefined
    );
  }

  addVoid(hubId: string, requestId: string, reversalRequestId: string, nowMs: number): void {
    this.statements
      .sql<[string, string, string, number]>("INSERT INTO settlement_voids (hub_id, request_id, reversal_request_id, voided_at_ms) VALUES (?, ?, ?, ?)")
      .run(hubId, requestId, reversalRequestId, nowMs);
  }

  /** Captured (not reversed) payments of one hub, merchant and currency not yet in a batch. */
  unbatchedTotals(hubId: string, merchantId: string, currency: string): { count: number; totalMinor: number } {
    const row = this.statements
      .sql<[string, string, string], { count: number; total: number | null }>(
        `SELECT COUNT(*) AS count, SUM(amount_minor) AS total FROM settlement_payments
         WHERE hub_id = ? AND merchant_id = ? AND currency = ? AND batch_id IS NULL AND status = 'captured'`,
      )
      .get(hubId, merchantId, currency);
    assert(row, "aggregate query returns a row");
    return { count: row.count, totalMinor: row.total ?? 0 };
  }

  assignBatch(hubId: string, merchantId: string, currency: string, batchId: string): number {
    return this.statements
      .sql<[string, string, string, string]>(
        `UPDATE settlement_payments SET batch_id = ?
         WHERE hub_id = ? AND merchant_id = ? AND currency = ? AND batch_id IS NULL AND status = 'captured'`,
      )
      .run(batchId, hubId, merchantId, currency).changes;
  }

  findBatch(hubId: string, batchId: string): BatchRecord | undefined {
    const row = this.statements
      .sql<[string, string], BatchRow>(`SELECT ${batchColumns} FROM settlement_batch_reports WHERE hub_id = ? AND batch_id = ?`)
      .get(hubId, batchId);
    return row ? toBatch(row) : undefined;
  }

  /** A later close of a batch that did not match replaces the earlier report. */
  saveBatch(b: BatchRecord): void {
    this.statements
      .sql<[string, string, string, string, string, number, number, number, number, number, number]>(
        `INSERT INTO settlement_batch_reports (${batchColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (hub_id, batch_id) DO UPDATE SET merchant_id = excluded.merchant_id, currency = excluded.currency,
           request_id = excluded.request_id, hub_count = excluded.hub_count, hub_total_minor = excluded.hub_total_minor,
           service_count = excluded.service_count, service_total_minor = excluded.service_total_minor,
           matched = excluded.matched, closed_at_ms = excluded.closed_at_ms`,
      )
      .run(
        b.hubId,
        b.batchId,
        b.merchantId,
        b.currency,
        b.requestId,
        b.hubCount,
        b.hubTotalMinor,
        b.serviceCount,
        b.serviceTotalMinor,
        b.matched ? 1 : 0,
        b.closedAtMs,
      );
  }

  batchReportsOf(hubId: string, limit: number): BatchRecord[] {
    assert(Number.isSafeInteger(limit) && limit > 0 && limit <= settlementListMax, `limit ${limit}`);
    return this.statements
      .sql<[string, number], BatchRow>(`SELECT ${batchColumns} FROM settlement_batch_reports WHERE hub_id = ? ORDER BY closed_at_ms, batch_id LIMIT ?`)
      .all(hubId, limit)
      .map(toBatch);
  }

  /** When the ledger posted a payment's transfer: the time its receipt carries. */
  postedAtMsOf(transferId: number): number {
    const postedAtMs = this.statements
      .sql<[number], number>("SELECT posted_at_ms FROM ledger_transfers WHERE transfer_id = ?")
      .pluck()
      .get(transferId);
    assert(postedAtMs !== undefined, `transfer ${transferId} of a payment exists`);
    return postedAtMs;
  }

  findPaymentById(paymentId: number): PaymentRecord | undefined {
    const row = this.statements.sql<[number], PaymentRow>(`SELECT ${paymentColumns} FROM settlement_payments WHERE payment_id = ?`).get(paymentId);
    return row ? toPayment(row) : undefined;
  }
}
