import { z } from "zod";
import { decodeBody, encodeBody } from "../../protocol/cbor.ts";
import { isTapwireError } from "../../protocol/errors.ts";
import type { EvidenceKind } from "../evidence/evidence-store.ts";
import type { EvidenceEntry, MerchantEvent } from "../merchant-events/merchant-event.ts";
import type { ClearingRun } from "./clearing-store.ts";
import { feeTransferKind, payoutTransferKind } from "./clearing-accounts.ts";

/** The principal payout evidence rows are recorded under. */
export const clearingPrincipal = "services/clearing";

/**
 * A clearing run as the evidence chain records it (an `operator` row: an action the service took on its own, as a
 * campaign's state change is): what was netted into what, and the ids of the fee and payout transfers it posted.
 */
export const payoutRecordSchema = z.object({
  type: z.literal("payout"),
  runId: z.number().int().positive(),
  merchantId: z.string(),
  businessDate: z.string(),
  currency: z.string(),
  outcome: z.enum(["paid", "negative_net"]),
  netMinor: z.number().int(),
  feesMinor: z.number().int().nonnegative(),
  payoutMinor: z.number().int().nonnegative(),
  feeTransferId: z.number().int().positive().optional(),
  payoutTransferId: z.number().int().positive().optional(),
  msgId: z.string().optional(),
  atMs: z.number().int(),
});
/** See payoutRecordSchema. */
export type PayoutRecord = z.infer<typeof payoutRecordSchema>;

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

export function encodePayoutRecord(record: PayoutRecord): Buffer {
  return encodeBody(record);
}

/** The payout record an evidence row holds, or undefined when the row is something else. */
export function payoutRecordIn(row: { kind: EvidenceKind; principal: string; bytes: Uint8Array }): PayoutRecord | undefined {
  if (row.kind !== "operator" || row.principal !== clearingPrincipal) return undefined;
  let body: unknown;
  try {
    body = decodeBody(row.bytes);
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return undefined;
  }
  const parsed = payoutRecordSchema.safeParse(body);
  return parsed.success ? parsed.data : undefined;
}

/** Transfer kinds only a clearing run posts, each named by a payout record rather than by a decision's receipt. */
export const clearingTransferKinds: ReadonlySet<string> = new Set([feeTransferKind, payoutTransferKind]);

/**
 * Every fee and payout transfer is named by exactly one payout record, with its amount, and every transfer a
 * record names exists with that amount: checked by `tapwire evidence verify` beside the receipts.
 */
export function checkPayoutTransfers(
  rows: ReadonlyArray<{ seq: number; kind: EvidenceKind; principal: string; bytes: Uint8Array }>,
  transfers: ReadonlyArray<{ transferId: number; kind: string; amountMinor: number; currency: string }>,
  problem: (text: string) => void,
): void {
  const named = new Map<number, { kind: string; amountMinor: number; currency: string; seq: number }>();
  for (const row of rows) {
    const record = payoutRecordIn(row);
    if (!record) continue;
    if (record.feeTransferId !== undefined) named.set(record.feeTransferId, { kind: feeTransferKind, amountMinor: record.feesMinor, currency: record.currency, seq: row.seq });
    if (record.payoutTransferId !== undefined) named.set(record.payoutTransferId, { kind: payoutTransferKind, amountMinor: record.payoutMinor, currency: record.currency, seq: row.seq });
  }
  for (const t of transfers.filter((t) => clearingTransferKinds.has(t.kind))) {
    const claim = named.get(t.transferId);
    if (!claim) problem(`${t.kind} transfer ${t.transferId} has no payout record`);
    else if (claim.kind !== t.kind || claim.amountMinor !== t.amountMinor || claim.currency !== t.currency) {
      problem(`#${claim.seq}: payout record differs from ${t.kind} transfer ${t.transferId}`);
    }
    named.delete(t.transferId);
  }
  for (const [transferId, claim] of named) problem(`#${claim.seq}: payout record names transfer ${transferId}, which is not a ${claim.kind} transfer`);
}

/** The `payout` merchant event of a payout record row; undefined for any other row. */
export function payoutEventOf(entry: EvidenceEntry): MerchantEvent | undefined {
  const record = payoutRecordIn(entry);
  if (!record) return undefined;
  return {
    deliveryId: `evt_${entry.seq}`,
    seq: entry.seq,
    type: "payout",
    merchantId: record.merchantId,
    requestId: entry.requestId,
    requestType: "payout",
    code: 0,
    reason: record.outcome === "paid" ? `cleared ${record.businessDate}: ${record.payoutMinor} paid out, ${record.feesMinor} fees` : `cleared ${record.businessDate}: net ${record.netMinor}, nothing paid out, carried to the next run`,
    amountMinor: record.payoutMinor,
    currency: record.currency,
    atMs: entry.recordedAtMs,
    decision: Buffer.from(entry.bytes).toString("base64"),
  };
}
