import { decodeBody } from "../../protocol/cbor.ts";
import { decodeSign1 } from "../../protocol/cose.ts";
import { decisionSchema, type Decision } from "../../protocol/messages.ts";
import { readableBody } from "../evidence/sealed-form.ts";
import { isTapwireError } from "../../protocol/errors.ts";

/** One evidence row as the event feed reads it (broker/evidence/evidence-schema.ts). */
export interface EvidenceEntry {
  seq: number;
  kind: "request" | "decision" | "operator";
  principal: string;
  requestId: string;
  bytes: Uint8Array;
  recordedAtMs: number;
}

/** Every event a merchant may be told of. */
export const merchantEventTypes = [
  "payment.approved",
  "payment.declined",
  "payment.held",
  "payment.reversed",
  "refund.succeeded",
  "refund.failed",
  "dispute.opened",
] as const;
/** One of merchantEventTypes. */
export type MerchantEventType = (typeof merchantEventTypes)[number];

/**
 * What a merchant is told of a decision that concerns it. `deliveryId` is the evidence row's (one per event, the
 * same on every delivery: a receiver drops what it has seen); `decision` is the service's signed decision itself
 * (COSE_Sign1, base64), checkable with the service's public key.
 */
export interface MerchantEvent {
  deliveryId: string;
  seq: number;
  type: MerchantEventType;
  merchantId: string;
  requestId: string;
  requestType: string;
  code: number;
  reason: string;
  amountMinor?: number;
  currency?: string;
  paymentId?: string;
  atMs: number;
  decision: string;
}

const payments = new Set(["payment_request", "wallet_tag_payment", "agent_payment", "offline_capture"]);

function eventType(decision: Decision): MerchantEventType | undefined {
  const { requestType, status } = decision;
  if (payments.has(requestType)) return status === "approved" ? "payment.approved" : status === "declined" ? "payment.declined" : "payment.held";
  if (requestType === "reversal") return status === "approved" ? "payment.reversed" : undefined;
  if (requestType === "refund") return status === "approved" ? "refund.succeeded" : "refund.failed";
  if (requestType === "dispute_open") return "dispute.opened";
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
  requests: RequestMerchants;
}

/**
 * The merchant event an evidence row makes, if any: decisions on payments, reversals, refunds and disputes, for
 * the merchant their receipt, their request or their hub names. Request rows are remembered for that.
 */
export function eventOf(entry: EvidenceEntry, sources: EventSources): MerchantEvent | undefined {
  if (entry.kind === "request") {
    // A sealed request (personal fields: broker/evidence/sealed-form.ts) keeps its merchant readable.
    const merchantId = readableBody(entry.bytes)?.["merchantId"];
    if (typeof merchantId === "string") sources.requests.remember(entry.requestId, merchantId);
    return undefined;
  }
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
