import { heldPaymentId } from "../review/review-store.ts";
import { assert } from "../../core/assert.ts";
import { StatementCache } from "../ledger/sqlite-db.ts";
import type { Transfer } from "../ledger/ledger.ts";
import type { BankAccount } from "./bank-account.ts";
import { feeTransferKind, payoutTransferKind } from "../evidence/payout-record.ts";
import type { FeeSchedule } from "./fees.ts";
import type { RunFigures } from "./run-figures.ts";
import type { SqlDb } from "../../core/sql-db.ts";

/** What a clearing run of one merchant's UTC day ended as: paid (fees and any payout posted) or a negative net carried on. */
export type RunOutcome = "paid" | "negative_net";

/** A recorded clearing run: everything its files are rendered from, so a rerun writes the same bytes. */
export interface ClearingRun {
  runId: number;
  merchantId: string;
  businessDate: string;
  currency: string;
  outcome: RunOutcome;
  figures: RunFigures;
  /** The merchant's account the payout went to, as it was at the run (absent when nothing was paid out). */
  payee: BankAccount | undefined;
  /** The operator's account it was paid from, as it was at the run. */
  debtor: BankAccount | undefined;
  feeTransferId: number | undefined;
  payoutTransferId: number | undefined;
  createdAtMs: number;
}

/** A run's tie to one ledger transfer: one it netted (a movement on the merchant's account) or one it posted. */
export interface RunTransfer {
  transferId: number;
  role: "netted" | "fee" | "payout";
}

/** An open dispute's payment amount kept back from payouts until the dispute is decided. */
export interface DisputeHold {
  caseId: string;
  merchantId: string;
  paymentId: string;
  amountMinor: number;
  heldByRunId: number;
  releasedByRunId: number | undefined;
}

interface RunRow {
  run_id: number;
  merchant_id: string;
  business_date: string;
  currency: string;
  outcome: RunOutcome;
  figures: string;
  payee: string | null;
  debtor: string | null;
  fee_transfer_id: number | null;
  payout_transfer_id: number | null;
  created_at_ms: number;
}

interface HoldRow {
  case_id: string;
  merchant_id: string;
  payment_id: string;
  amount_minor: number;
  held_by_run_id: number;
  released_by_run_id: number | null;
}

const runColumns = "run_id, merchant_id, business_date, currency, outcome, figures, payee, debtor, fee_transfer_id, payout_transfer_id, created_at_ms";

const toRun = (r: RunRow): ClearingRun => ({
  runId: r.run_id,
  merchantId: r.merchant_id,
  businessDate: r.business_date,
  currency: r.currency,
  outcome: r.outcome,
  figures: JSON.parse(r.figures) as RunFigures,
  payee: r.payee === null ? undefined : (JSON.parse(r.payee) as BankAccount),
  debtor: r.debtor === null ? undefined : (JSON.parse(r.debtor) as BankAccount),
  feeTransferId: r.fee_transfer_id ?? undefined,
  payoutTransferId: r.payout_transfer_id ?? undefined,
  createdAtMs: r.created_at_ms,
});

const toHold = (r: HoldRow): DisputeHold => ({
  caseId: r.case_id,
  merchantId: r.merchant_id,
  paymentId: r.payment_id,
  amountMinor: r.amount_minor,
  heldByRunId: r.held_by_run_id,
  releasedByRunId: r.released_by_run_id ?? undefined,
});

/** Largest number of open dispute holds, or of carried negative runs, one merchant's run reads. */
export const clearingListMax = 10_000;

/** The clearing tables (clearing-schema.ts); writes join the caller's transaction. */
export class ClearingStore {
  private readonly statements: StatementCache;

  constructor(db: SqlDb) {
    this.statements = new StatementCache(db);
  }

  setFees(merchantId: string, schedule: FeeSchedule, nowMs: number): void {
    this.statements
      .sql<[string, number, number, number]>(
        `INSERT INTO clearing_fees (merchant_id, bps, fixed_minor, updated_at_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (merchant_id) DO UPDATE SET bps = excluded.bps, fixed_minor = excluded.fixed_minor, updated_at_ms = excluded.updated_at_ms`,
      )
      .run(merchantId, schedule.bps, schedule.fixedMinor, nowMs);
  }

  feesOf(merchantId: string): FeeSchedule | undefined {
    const row = this.statements.sql<[string], { bps: number; fixed_minor: number }>("SELECT bps, fixed_minor FROM clearing_fees WHERE merchant_id = ?").get(merchantId);
    return row ? { bps: row.bps, fixedMinor: row.fixed_minor } : undefined;
  }

  setPayee(merchantId: string, account: BankAccount, nowMs: number): void {
    this.statements
      .sql<[string, string, string, string, number]>(
        `INSERT INTO clearing_payees (merchant_id, name, iban, bic, updated_at_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (merchant_id) DO UPDATE SET name = excluded.name, iban = excluded.iban, bic = excluded.bic, updated_at_ms = excluded.updated_at_ms`,
      )
      .run(merchantId, account.name, account.iban, account.bic, nowMs);
  }

  payeeOf(merchantId: string): BankAccount | undefined {
    return this.statements.sql<[string], BankAccount>("SELECT name, iban, bic FROM clearing_payees WHERE merchant_id = ?").get(merchantId);
  }

  setDebtor(account: BankAccount, nowMs: number): void {
    this.statements
      .sql<[string, string, string, number]>(
        `INSERT INTO clearing_debtor (singleton, name, iban, bic, updated_at_ms) VALUES (1, ?, ?, ?, ?)
         ON CONFLICT (singleton) DO UPDATE SET name = excluded.name, iban = excluded.iban, bic = excluded.bic, updated_at_ms = excluded.updated_at_ms`,
      )
      .run(account.name, account.iban, account.bic, nowMs);
  }

  debtor(): BankAccount | undefined {
    return this.statements.sql<[], BankAccount>("SELECT name, iban, bic FROM clearing_debtor WHERE singleton = 1").get();
  }

  findRun(merchantId: string, businessDate: string): ClearingRun | undefined {
    const row = this.statements.sql<[string, string], RunRow>(`SELECT ${runColumns} FROM clearing_runs WHERE merchant_id = ? AND business_date = ?`).get(merchantId, businessDate);
    return row ? toRun(row) : undefined;
  }

  /** Negative runs of the merchant no later run has taken on yet, oldest first. */
  carriedRuns(merchantId: string): ClearingRun[] {
    return this.statements
      .sql<[string, number], RunRow>(
        `SELECT ${runColumns} FROM clearing_runs WHERE merchant_id = ? AND outcome = 'negative_net' AND absorbed_by_run_id IS NULL ORDER BY run_id LIMIT ?`,
      )
      .all(merchantId, clearingListMax)
      .map(toRun);
  }

  /**
   * Transfers on the account posted in [fromMs, toMs), other than clearing's own (fees, payouts) and than those a
   * run already netted, oldest first; at most `limit`.
   */
  unclearedTransfers(accountId: string, fromMs: number, toMs: number, limit: number): Transfer[] {
    return this.statements
      .sql<[string, number, number, number], { transfer_id: number; debit_account_id: string; credit_account_id: string; amount_minor: number; currency: string; kind: string; reference: string; posted_at_ms: number }>(
        `SELECT t.transfer_id, t.debit_account_id, t.credit_account_id, t.amount_minor, t.currency, t.kind, t.reference, t.posted_at_ms
         FROM ledger_postings p JOIN ledger_transfers t ON t.transfer_id = p.transfer_id
         LEFT JOIN clearing_run_transfers c ON c.transfer_id = t.transfer_id
         WHERE p.account_id = ? AND t.posted_at_ms >= ? AND t.posted_at_ms < ? AND t.kind NOT IN ('${feeTransferKind}', '${payoutTransferKind}') AND c.transfer_id IS NULL
         ORDER BY t.transfer_id LIMIT ?`,
      )
      .all(accountId, fromMs, toMs, limit)
      .map((t) => ({
        transferId: t.transfer_id,
        debitAccountId: t.debit_account_id,
        creditAccountId: t.credit_account_id,
        amountMinor: t.amount_minor,
        currency: t.currency,
        kind: t.kind,
        reference: t.reference,
        postedAtMs: t.posted_at_ms,
      }));
  }

  /** Dispute cases still pending: the case and the payment it names (`pay-N`, `agentpay-N`). */
  pendingDisputes(): Array<{ caseId: string; paymentId: string }> {
    return this.statements
      .sql<[number], { case_id: string; held: string }>(
        `SELECT case_id, held FROM review_cases WHERE kind = 'dispute' AND status = 'pending' ORDER BY case_seq LIMIT ?`,
      )
      .all(clearingListMax)
      .map((r) => ({ caseId: r.case_id, paymentId: heldPaymentId(r.held) }));
  }

  /** A hub payment (settlement_payments, read only) as far as a dispute hold needs it. */
  hubPayment(paymentId: number): { merchantId: string; amountMinor: number; refundedMinor: number } | undefined {
    return this.statements
      .sql<[number], { merchantId: string; amountMinor: number; refundedMinor: number }>(
        // Quoted aliases keep their case on PostgreSQL too.
        'SELECT merchant_id AS "merchantId", amount_minor AS "amountMinor", refunded_minor AS "refundedMinor" FROM settlement_payments WHERE payment_id = ?',
      )
      .get(paymentId);
  }

  isPendingDispute(caseId: string): boolean {
    return this.statements.sql<[string], number>("SELECT 1 FROM review_cases WHERE case_id = ? AND status = 'pending'").pluck().get(caseId) === 1;
  }

  findHold(caseId: string): DisputeHold | undefined {
    const row = this.statements.sql<[string], HoldRow>("SELECT * FROM clearing_holds WHERE case_id = ?").get(caseId);
    return row ? toHold(row) : undefined;
  }

  openHolds(merchantId: string): DisputeHold[] {
    return this.statements
      .sql<[string, number], HoldRow>("SELECT * FROM clearing_holds WHERE merchant_id = ? AND released_by_run_id IS NULL ORDER BY case_id LIMIT ?")
      .all(merchantId, clearingListMax)
      .map(toHold);
  }

  holdsOfRun(runId: number): { held: DisputeHold[]; released: DisputeHold[] } {
    const held = this.statements.sql<[number], HoldRow>("SELECT * FROM clearing_holds WHERE held_by_run_id = ? ORDER BY case_id").all(runId).map(toHold);
    const released = this.statements.sql<[number], HoldRow>("SELECT * FROM clearing_holds WHERE released_by_run_id = ? ORDER BY case_id").all(runId).map(toHold);
    return { held, released };
  }

  insertRun(run: Omit<ClearingRun, "runId">): number {
    const runId = this.statements
      .sql<[string, string, string, RunOutcome, string, string | null, string | null, number | null, number | null, number], number>(
        `INSERT INTO clearing_runs (merchant_id, business_date, currency, outcome, figures, payee, debtor, fee_transfer_id, payout_transfer_id, created_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING run_id`,
      )
      .pluck()
      .get(
        run.merchantId,
        run.businessDate,
        run.currency,
        run.outcome,
        JSON.stringify(run.figures),
        run.payee ? JSON.stringify(run.payee) : null,
        run.debtor ? JSON.stringify(run.debtor) : null,
        run.feeTransferId ?? null,
        run.payoutTransferId ?? null,
        run.createdAtMs,
      );
    assert(runId !== undefined, "the insert returns its run id");
    return runId;
  }

  absorb(carriedRunIds: readonly number[], runId: number): void {
    for (const carried of carriedRunIds) {
      this.statements.sql<[number, number]>("UPDATE clearing_runs SET absorbed_by_run_id = ? WHERE run_id = ? AND absorbed_by_run_id IS NULL").run(runId, carried);
    }
  }

  tieTransfers(runId: number, transfers: readonly RunTransfer[]): void {
    for (const t of transfers) {
      this.statements.sql<[number, number, string]>("INSERT INTO clearing_run_transfers (transfer_id, run_id, role) VALUES (?, ?, ?)").run(t.transferId, runId, t.role);
    }
  }

  transfersOfRun(runId: number): RunTransfer[] {
    return this.statements.sql<[number], RunTransfer>('SELECT transfer_id AS "transferId", role FROM clearing_run_transfers WHERE run_id = ? ORDER BY transfer_id').all(runId);
  }

  /** Runs that took on the given run's carried figures (the run that absorbed it), for the reconciliation report. */
  runsAbsorbedBy(runId: number): number[] {
    return this.statements.sql<[number], number>("SELECT run_id FROM clearing_runs WHERE absorbed_by_run_id = ? ORDER BY run_id").pluck().all(runId);
  }

  hold(hold: Omit<DisputeHold, "releasedByRunId">): void {
    this.statements
      .sql<[string, string, string, number, number]>("INSERT INTO clearing_holds (case_id, merchant_id, payment_id, amount_minor, held_by_run_id) VALUES (?, ?, ?, ?, ?)")
      .run(hold.caseId, hold.merchantId, hold.paymentId, hold.amountMinor, hold.heldByRunId);
  }

  release(caseId: string, runId: number): void {
    this.statements.sql<[number, string]>("UPDATE clearing_holds SET released_by_run_id = ? WHERE case_id = ? AND released_by_run_id IS NULL").run(runId, caseId);
  }
}
