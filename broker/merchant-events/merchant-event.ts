import { decodeBody } from "../../protocol/cbor.ts";
import { decodeSign1 } from "../../protocol/cose.ts";
import { decisionSchema, type Decision } from "../../protocol/messages.ts";
import { readableBody } from "../evidence/sealed-form.ts";
import { isTapwireError } from "../../protocol/errors.ts";
import type { MerchantEvent, MerchantEventType } from "../../protocol/merchant-feed.ts";
import { formatMoney } from "../../protocol/money.ts";
import { payoutRecordIn } from "../evidence/payout-record.ts";

/** One evidence row as the event feed reads it (broker/evidence/evidence-schema.ts). */
export interface EvidenceEntry {
  seq: number;
  kind: "request" | "decision" | "operator";
  principal: string;
  requestId: string;
  bytes: Uint8Array;
  recordedAtMs: number;
}

const payments = new Set(["payment_request", "wallet_tag_payment", "agent_payment", "offline_capture"]);

function eventType(decision: Decision): MerchantEventType | undefined {
  const { requestType, status } = decision;
  if (payments.has(requestType)) return status === "approved" ? "payment.approved" : status === "declined" ? "payment.declined" : "payment.held";
  if (requestType === "reversal") return status === "approved" ? "payment.reversed" : undefined;
  if (requestType === "refund") return status === "approved" ? "refund.succeeded" : "refund.failed";
  // The dispute's first answer holds it for an operator; the operator's final decision (refund or not) resolves it.
  if (requestType === "dispute_open") return status === "human_review" ? "dispute.opened" : status === "step_up_required" ? undefined : "dispute.resolved";
  return undefined;
}

/** The signed body of a request or decision row, unverified (the service verified it before recording it). */
function bodyOf(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const body = decodeBody(decodeSign1(bytes).payload);
    return typeof body === "object" && body !== null ? (body as Record<string, unknown>) : undefined;
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return undefined;
  }
}

/** Requests seen lately: which merchant each names, for the decisions that follow (bounded: oldest dropped first). */
export class RequestMerchants {
  private readonly merchants = new Map<string, string>();

  constructor(private readonly entriesMax: number) {}

  remember(requestId: string, merchantId: string): void {
    this.merchants.delete(requestId);
    this.merchants.set(requestId, merchantId);
    if (this.merchants.size > this.entriesMax) this.merchants.delete(this.merchants.keys().next().value!);
  }

  of(requestId: string): string | undefined {
    return this.merchants.get(requestId);
  }
}

export interface EventSources {
  /** The merchant a hub is enrolled at, if the hub is known. */
  merchantOfHub(hubId: string): string | undefined;
  /** The merchant a payment (`pay-N`, `agentpay-N`) was made at, if it is known. */
  merchantOfPayment(paymentId: string): string | undefined;
  requests: RequestMerchants;
}

/**
 * The merchant event an evidence row makes, if any: decisions on payments, reversals, refunds and disputes, for
 * the merchant their receipt, their request or their hub names (request rows are remembered for that); and
 * clearing runs' payout records, for the merchant they name.
 */
export function eventOf(entry: EvidenceEntry, sources: EventSources): MerchantEvent | undefined {
  if (entry.kind === "request") {
    // A sealed request (personal fields: broker/evidence/sealed-form.ts) keeps its merchant and payment readable.
    const body = readableBody(entry.bytes);
    // A dispute names the payment, not the merchant: the payment does.
    const paymentId = body?.["type"] === "dispute_open" ? body["paymentId"] : undefined;
    const merchantId = typeof paymentId === "string" ? sources.merchantOfPayment(paymentId) : body?.["merchantId"];
    if (typeof merchantId === "string") sources.requests.remember(entry.requestId, merchantId);
    return undefined;
  }
  if (entry.kind === "operator") return payoutEventOf(entry);
  if (entry.kind !== "decision") return undefined;
  const parsed = decisionSchema.safeParse(bodyOf(entry.bytes));
  if (!parsed.success) return undefined;
  const decision = parsed.data;
  const type = eventType(decision);
  if (type === undefined) return undefined;
  const merchantId =
    decision.receipt?.merchantId ??
    sources.requests.of(decision.requestId) ??
    (decision.principalKind === "hub" || decision.requestType === "wallet_tag_payment" ? sources.merchantOfHub(decision.hubId) : undefined);
  if (merchantId === undefined) return undefined;
  return {
    deliveryId: `evt_${entry.seq}`,
    seq: entry.seq,
    type,
    merchantId,
    requestId: decision.requestId,
    requestType: decision.requestType,
    code: decision.code,
    reason: decision.reason,
    ...(decision.receipt
      ? { amountMinor: decision.receipt.amountMinor, currency: decision.receipt.currency, paymentId: decision.receipt.paymentId }
      : {}),
    atMs: entry.recordedAtMs,
    decision: Buffer.from(entry.bytes).toString("base64"),
  };
}

/** The `payout` merchant event of a clearing run's payout record row; undefined for any other row. */
function payoutEventOf(entry: EvidenceEntry): MerchantEvent | undefined {
  const record = payoutRecordIn(entry);
  if (!record) return undefined;
  const money = (amountMinor: number) => formatMoney({ amountMinor, currency: record.currency });
  return {
    deliveryId: `evt_${entry.seq}`,
    seq: entry.seq,
    type: "payout",
    merchantId: record.merchantId,
    requestId: entry.requestId,
    requestType: "payout",
    code: 0,
    reason:
      record.outcome === "paid"
        ? `cleared ${record.businessDate}: ${money(record.payoutMinor)} paid out, ${money(record.feesMinor)} fees`
        : `cleared ${record.businessDate}: net ${money(record.netMinor)}, nothing paid out, carried to the next run`,
    amountMinor: record.payoutMinor,
    currency: record.currency,
    atMs: entry.recordedAtMs,
    decision: Buffer.from(entry.bytes).toString("base64"),
  };
}
