import { z } from "zod";
import { decodeBody, encodeBody } from "../../protocol/cbor.ts";
import { isTapwireError } from "../../protocol/errors.ts";
import type { EvidenceKind } from "./evidence-store.ts";

/** The principal clearing runs' payout records are recorded under. */
export const clearingPrincipal = "services/clearing";

/** The kind of the transfer that takes a clearing run's fees from the merchant's account. */
export const feeTransferKind = "clearing_fee";
/** The kind of the transfer that takes a clearing run's payout from the merchant's account. */
export const payoutTransferKind = "payout";

/** Transfer kinds only a clearing run posts, each named by a payout record rather than by a decision's receipt. */
export const clearingTransferKinds: ReadonlySet<string> = new Set([feeTransferKind, payoutTransferKind]);

/**
 * A clearing run (broker/clearing/) as the evidence chain records it (an `operator` row: an action the service took
 * on its own, as a campaign's state change is): what the merchant's day netted to, and the ids of the fee and payout
 * transfers it posted, which `tapwire evidence verify` holds the ledger to.
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

export function encodePayoutRecord(record: PayoutRecord): Buffer {
  return encodeBody(payoutRecordSchema.parse(record));
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
