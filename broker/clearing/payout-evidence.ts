import type { ClearingRun } from "./clearing-store.ts";
import type { PayoutRecord } from "../evidence/payout-record.ts";

/** The pain.001 message id of a run: unique per run, at most 35 characters (Max35Text). */
export function msgIdOf(run: Pick<ClearingRun, "runId" | "businessDate">): string {
  return `TWCLR-${run.businessDate.replace(/-/g, "")}-${String(run.runId).padStart(8, "0")}`;
}

export function payoutMinorOf(run: Pick<ClearingRun, "outcome" | "figures">): number {
  return run.outcome === "paid" ? run.figures.netMinor : 0;
}

export function payoutRecordOf(run: ClearingRun): PayoutRecord {
  const payoutMinor = payoutMinorOf(run);
  return {
    type: "payout",
    runId: run.runId,
    merchantId: run.merchantId,
    businessDate: run.businessDate,
    currency: run.currency,
    outcome: run.outcome,
    netMinor: run.figures.netMinor,
    feesMinor: run.outcome === "paid" ? run.figures.feesMinor : 0,
    payoutMinor,
    ...(run.feeTransferId === undefined ? {} : { feeTransferId: run.feeTransferId }),
    ...(run.payoutTransferId === undefined ? {} : { payoutTransferId: run.payoutTransferId }),
    ...(payoutMinor > 0 ? { msgId: msgIdOf(run) } : {}),
    atMs: run.createdAtMs,
  };
}
