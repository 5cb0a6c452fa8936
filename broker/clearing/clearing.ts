import { assert } from "../../core/assert.ts";
import type { Clock } from "../../core/sources.ts";
import { logger } from "../../core/log.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { agentPaymentIdPrefix } from "../agents/agent-payments.ts";
import { MandateStore } from "../agents/mandate-store.ts";
import type { EvidenceStore } from "../evidence/evidence-store.ts";
import { clearingPrincipal, encodePayoutRecord, feeTransferKind, payoutTransferKind } from "../evidence/payout-record.ts";
import { feeRevenueAccountId, merchantAccountId, payoutAccountId, type Ledger, type TransferInput } from "../ledger/ledger.ts";
import type { Registry } from "../registry/registry.ts";
import { parseBankAccount, type BankAccount } from "./bank-account.ts";
import { ClearingStore, type ClearingRun, type RunTransfer } from "./clearing-store.ts";
import { utcDay } from "./clearing-date.ts";
import { parseFeeSchedule, type FeeSchedule } from "./fees.ts";
import { payoutRecordOf } from "./payout-evidence.ts";
import { computeFigures } from "./run-figures.ts";
import { renderFiles, type SettlementFiles } from "./settlement-files.ts";
import type { SqlDb } from "../../core/sql-db.ts";

const log = logger("tapwire:clearing");

/** Most ledger transfers one merchant's day may hold for one run (ClearingDayTooLarge above). */
export const clearingTransfersMax = 100_000;

export interface ClearingDeps {
  db: SqlDb;
  /** The ledger the fee and payout are posted through (a savepoint inside the run's transaction). */
  ledger: Ledger;
  registry: Registry;
  evidence: EvidenceStore;
  clock: Clock;
}

/**
 * The result of clearing one merchant's day: `empty` (nothing moved, nothing held or carried: nothing recorded),
 * or the recorded run (`paid` or `negative_net`, see RunFigures), with `replayed` when it was recorded by an
 * earlier call and this one posted nothing.
 */
export type ClearingResult = { outcome: "empty"; merchantId: string; businessDate: string } | { outcome: ClearingRun["outcome"]; run: ClearingRun; replayed: boolean };

/** A payment a pending dispute names, as far as holds need it. */
interface Disputed {
  merchantId: string;
  remainingMinor: number;
}

const hubPaymentIdPrefix = "pay-";

/**
 * Clearing per merchant per UTC day: nets the day's movements on the merchant's ledger account, charges fees, keeps
 * back disputed amounts, and posts the fees and the payout in one transaction with the run's record and its evidence
 * row. A (merchant, day) is cleared once: a second call returns the recorded run and posts nothing.
 */
export class Clearing {
  private readonly store: ClearingStore;
  private readonly mandates: MandateStore;

  constructor(private readonly deps: ClearingDeps) {
    this.store = new ClearingStore(deps.db);
    this.mandates = new MandateStore(deps.db);
  }

  /** The merchant's fee schedule, undefined when none is set; UnknownMerchant for an unknown merchant. */
  feesOf(merchantId: string): FeeSchedule | undefined {
    this.deps.registry.getMerchant(merchantId);
    return this.store.feesOf(merchantId);
  }

  /** The merchant's payee account, undefined when none is set; UnknownMerchant for an unknown merchant. */
  payeeOf(merchantId: string): BankAccount | undefined {
    this.deps.registry.getMerchant(merchantId);
    return this.store.payeeOf(merchantId);
  }

  /** The operator's paying account, undefined when none is set. */
  debtor(): BankAccount | undefined {
    return this.store.debtor();
  }

  /** Every enrolled merchant, for a run over all of them. */
  merchantIds(): string[] {
    return this.deps.registry.listMerchants().map((m) => m.merchantId);
  }

  setFees(merchantId: string, schedule: FeeSchedule): FeeSchedule {
    this.deps.registry.getMerchant(merchantId);
    const parsed = parseFeeSchedule(schedule);
    this.store.setFees(merchantId, parsed, this.deps.clock.nowMs());
    return parsed;
  }

  setPayee(merchantId: string, account: BankAccount): BankAccount {
    this.deps.registry.getMerchant(merchantId);
    const parsed = parseBankAccount(account);
    this.store.setPayee(merchantId, parsed, this.deps.clock.nowMs());
    return parsed;
  }

  setDebtor(account: BankAccount): BankAccount {
    const parsed = parseBankAccount(account);
    this.store.setDebtor(parsed, this.deps.clock.nowMs());
    return parsed;
  }

  /** Clears one merchant's UTC day (YYYY-MM-DD), all or nothing. */
  run(merchantId: string, businessDate: string): ClearingResult {
    const { db, clock } = this.deps;
    return db.transaction(() => this.runInTransaction(merchantId, businessDate, clock.nowMs())).immediate();
  }

  private runInTransaction(merchantId: string, businessDate: string, nowMs: number): ClearingResult {
    const merchant = this.deps.registry.getMerchant(merchantId);
    const day = utcDay(businessDate);
    const recorded = this.store.findRun(merchantId, businessDate);
    if (recorded) return { outcome: recorded.outcome, run: recorded, replayed: true };
    if (nowMs < day.endMs) {
      throw new TapwireError(`${businessDate} has not ended (UTC): payments may still be posted on it`, ErrorCode.ClearingDayOpen, { businessDate });
    }
    const accountId = merchantAccountId(merchantId);
    const movements = this.store.unclearedTransfers(accountId, day.startMs, day.endMs, clearingTransfersMax + 1);
    if (movements.length > clearingTransfersMax) {
      throw new TapwireError(`${merchantId} has over ${clearingTransfersMax} transfers on ${businessDate}`, ErrorCode.ClearingDayTooLarge, { merchantId, businessDate });
    }
    const newHolds = this.newHolds(merchantId);
    const released = this.store.openHolds(merchantId).filter((h) => !this.store.isPendingDispute(h.caseId));
    const carried = this.store.carriedRuns(merchantId);
    if (movements.length === 0 && newHolds.length === 0 && released.length === 0 && carried.length === 0) {
      return { outcome: "empty", merchantId, businessDate };
    }
    const schedule = this.store.feesOf(merchantId);
    if (!schedule) throw new TapwireError(`merchant ${merchantId} has no fee schedule`, ErrorCode.FeeScheduleMissing, { merchantId });
    const figures = computeFigures({
      accountId,
      currency: merchant.currency,
      movements,
      schedule,
      disputeHoldsMinor: sum(newHolds.map((h) => h.amountMinor)),
      holdsReleasedMinor: sum(released.map((h) => h.amountMinor)),
      carriedInMinor: sum(carried.map((r) => r.figures.baseMinor)),
      carriedInFeesMinor: sum(carried.map((r) => r.figures.feesMinor)),
    });
    const outcome = figures.netMinor >= 0 ? "paid" : "negative_net";
    const paysOut = outcome === "paid" && figures.netMinor > 0;
    const payee = paysOut ? this.requirePayee(merchantId) : undefined;
    const debtor = paysOut ? this.requireDebtor() : undefined;
    const posted = outcome === "paid" ? this.post(accountId, merchant.currency, figures.feesMinor, figures.netMinor, `clearing/${merchantId}/${businessDate}`) : {};
    const base = { merchantId, businessDate, currency: merchant.currency, outcome, figures, payee, debtor, createdAtMs: nowMs } as const;
    const runId = this.store.insertRun({ ...base, feeTransferId: posted.feeTransferId, payoutTransferId: posted.payoutTransferId });
    this.store.absorb(
      carried.map((r) => r.runId),
      runId,
    );
    this.store.tieTransfers(runId, [...movements.map((t): RunTransfer => ({ transferId: t.transferId, role: "netted" })), ...postedTransfers(posted)]);
    for (const hold of newHolds) this.store.hold({ ...hold, merchantId, heldByRunId: runId });
    for (const hold of released) this.store.release(hold.caseId, runId);
    const run = this.store.findRun(merchantId, businessDate);
    assert(run && run.runId === runId, `clearing run ${runId} readable right after insert`);
    this.deps.evidence.append("operator", clearingPrincipal, `payout:${merchantId}/${businessDate}`, encodePayoutRecord(payoutRecordOf(run)), nowMs);
    log.info({ merchantId, businessDate, outcome, netMinor: figures.netMinor, feesMinor: figures.feesMinor }, "merchant day cleared");
    return { outcome, run, replayed: false };
  }

  /** The run's files, from its record and the transfers and holds it is tied to. */
  filesOf(run: ClearingRun): SettlementFiles {
    const transfers = this.store.transfersOfRun(run.runId).map((tied) => {
      const transfer = this.deps.ledger.findTransfer(tied.transferId);
      assert(transfer, `transfer ${tied.transferId} of clearing run ${run.runId} exists`);
      return { ...tied, transfer };
    });
    return renderFiles(run, { transfers, ...this.store.holdsOfRun(run.runId), carriedFromRunIds: this.store.runsAbsorbedBy(run.runId) });
  }

  /** Fees to the revenue account, then the net to the payout account, linked (both or neither). */
  private post(accountId: string, currency: string, feesMinor: number, netMinor: number, reference: string): { feeTransferId?: number; payoutTransferId?: number } {
    const legs: TransferInput[] = [];
    if (feesMinor > 0) legs.push({ debitAccountId: accountId, creditAccountId: feeRevenueAccountId(currency), amountMinor: feesMinor, currency, kind: feeTransferKind, reference });
    if (netMinor > 0) legs.push({ debitAccountId: accountId, creditAccountId: payoutAccountId(currency), amountMinor: netMinor, currency, kind: payoutTransferKind, reference });
    if (legs.length === 0) return {};
    for (const leg of legs) this.deps.ledger.ensureAccount(leg.creditAccountId, currency);
    const transfers = this.deps.ledger.postLinked(legs);
    const byKind = new Map(transfers.map((t) => [t.kind, t.transferId]));
    return { feeTransferId: byKind.get(feeTransferKind), payoutTransferId: byKind.get(payoutTransferKind) };
  }

  /** Disputes opened on the merchant's payments that no run holds yet, with what is left of each payment. */
  private newHolds(merchantId: string): Array<{ caseId: string; paymentId: string; amountMinor: number }> {
    const holds: Array<{ caseId: string; paymentId: string; amountMinor: number }> = [];
    for (const { caseId, paymentId } of this.store.pendingDisputes()) {
      if (this.store.findHold(caseId)) continue;
      const disputed = this.disputed(paymentId);
      if (disputed?.merchantId === merchantId && disputed.remainingMinor > 0) holds.push({ caseId, paymentId, amountMinor: disputed.remainingMinor });
    }
    return holds;
  }

  private disputed(paymentId: string): Disputed | undefined {
    const sequence = (prefix: string) => (paymentId.startsWith(prefix) ? Number(paymentId.slice(prefix.length)) : Number.NaN);
    const agentSeq = sequence(agentPaymentIdPrefix);
    const hubSeq = sequence(hubPaymentIdPrefix);
    const payment = Number.isSafeInteger(agentSeq) ? this.mandates.findPayment(agentSeq) : Number.isSafeInteger(hubSeq) ? this.store.hubPayment(hubSeq) : undefined;
    return payment && { merchantId: payment.merchantId, remainingMinor: payment.amountMinor - payment.refundedMinor };
  }

  private requirePayee(merchantId: string): BankAccount {
    const payee = this.store.payeeOf(merchantId);
    if (!payee) throw new TapwireError(`merchant ${merchantId} has no payee account`, ErrorCode.PayeeMissing, { merchantId });
    return payee;
  }

  private requireDebtor(): BankAccount {
    const debtor = this.store.debtor();
    if (!debtor) throw new TapwireError("the operator's paying account is not set", ErrorCode.DebtorMissing);
    return debtor;
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((total, v) => total + v, 0);
}

function postedTransfers(posted: { feeTransferId?: number; payoutTransferId?: number }): RunTransfer[] {
  const tied: RunTransfer[] = [];
  if (posted.feeTransferId !== undefined) tied.push({ transferId: posted.feeTransferId, role: "fee" });
  if (posted.payoutTransferId !== undefined) tied.push({ transferId: posted.payoutTransferId, role: "payout" });
  return tied;
}
