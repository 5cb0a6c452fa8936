import { decodeBody } from "../../protocol/cbor.ts";
import type { OfflineLimits } from "../../protocol/contract.ts";
import type { HceCredential } from "../../protocol/messages.ts";

/** The journal's records as the rest of the hub sees them, and how they are read from their rows. */

/** What a journaled request is: the sale's payment (reader, glasses), a tag offer, or what the hub sends about one. */
export const requestKinds = ["payment", "offer", "reversal", "capture", "status", "step_up"] as const;
export type RequestKind = (typeof requestKinds)[number];
export type RequestState = "open" | "decided" | "superseded";

/**
 * What became of a sale, as the customer and the cashier are told. `declined` means not charged (the service
 * declined it, or it never reached the service before its lifetime ended); `reversed` means the hub undid it
 * (reversed or voided: not charged either); `reversal_refused` needs a person (the service refused to undo it).
 */
export const saleOutcomes = ["pending", "approved", "approved_offline", "declined", "reversed", "reversal_refused"] as const;
export type SaleOutcome = (typeof saleOutcomes)[number];

export interface NewSale {
  saleId: string;
  mode: string;
  amountMinor: number;
  currency: string;
}

export interface JournalSale extends NewSale {
  /** The request that charges the customer: the payment, the tag offer, or the offline capture. */
  paymentRequestId: string;
  outcome: SaleOutcome;
  /** 0 or the TapwireError code that goes with the outcome. */
  code: number;
  createdAtMs: number;
  resolvedAtMs: number | undefined;
}

/** An offline sale as taken at the counter: the wallet's cryptogram and where it stood in the backlog. */
export interface StoredCapture {
  credential: HceCredential;
  capturedAtMs: number;
  backlog: { position: number; totalMinor: number; oldestCapturedAtMs: number };
  limits: OfflineLimits;
}

export interface JournalRequest {
  requestId: string;
  saleId: string;
  kind: RequestKind;
  /** The payment a reversal or status query is about. */
  targetRequestId: string | undefined;
  reason: string | undefined;
  /** Undefined for tag offers (not counted requests) and for captures not yet forwarded. */
  seq: number | undefined;
  /** The COSE_Sign1 bytes exactly as sent; every resend sends these. Undefined for a capture not yet forwarded. */
  payload: Buffer | undefined;
  iatMs: number | undefined;
  expMs: number | undefined;
  capture: StoredCapture | undefined;
  state: RequestState;
  status: string | undefined;
  code: number | undefined;
  createdAtMs: number;
}

/** A signed envelope and the times inside it. */
export interface SealedEnvelope {
  payload: Buffer;
  iatMs: number;
  expMs: number;
}

export interface JournalLimits {
  /** Requests waiting for a decision at once (offline captures not counted: their floor limits bound them). */
  openRequestsMax: number;
  /** Bytes of payloads and captures held; beyond it no new sale is journaled. */
  bytesMax: number;
  /** How long a resolved sale (and its requests) is kept: the "last sale" after a reboot, audits. */
  retentionMs: number;
  /** Most sales kept; the oldest resolved ones go first. */
  salesMax: number;
}

export const journalLimitsDefault: JournalLimits = {
  openRequestsMax: 32,
  bytesMax: 16 * 1024 * 1024,
  retentionMs: 7 * 24 * 3_600_000,
  salesMax: 10_000,
};

export interface SaleRow {
  sale_id: string;
  mode: string;
  amount_minor: number;
  currency: string;
  payment_request_id: string;
  outcome: SaleOutcome;
  code: number;
  created_at_ms: number;
  resolved_at_ms: number | null;
}

export interface RequestRow {
  request_id: string;
  sale_id: string;
  kind: RequestKind;
  target_request_id: string | null;
  reason: string | null;
  seq: number | null;
  payload: Buffer | null;
  iat_ms: number | null;
  exp_ms: number | null;
  capture: Buffer | null;
  state: RequestState;
  status: string | null;
  code: number | null;
  created_at_ms: number;
}

export const requestColumns =
  "request_id, sale_id, kind, target_request_id, reason, seq, payload, iat_ms, exp_ms, capture, state, status, code, created_at_ms";
export const saleColumns = "sale_id, mode, amount_minor, currency, payment_request_id, outcome, code, created_at_ms, resolved_at_ms";

/** Kinds that settle an existing sale rather than start one: never refused for room (see checkRoom). */

export function parseCapture(bytes: Buffer): StoredCapture {
  return decodeBody(bytes) as StoredCapture;
}

export function toRequest(row: RequestRow): JournalRequest {
  return {
    requestId: row.request_id,
    saleId: row.sale_id,
    kind: row.kind,
    targetRequestId: row.target_request_id ?? undefined,
    reason: row.reason ?? undefined,
    seq: row.seq ?? undefined,
    payload: row.payload ?? undefined,
    iatMs: row.iat_ms ?? undefined,
    expMs: row.exp_ms ?? undefined,
    capture: row.capture ? parseCapture(row.capture) : undefined,
    state: row.state,
    status: row.status ?? undefined,
    code: row.code ?? undefined,
    createdAtMs: row.created_at_ms,
  };
}

export function toSale(row: SaleRow): JournalSale {
  return {
    saleId: row.sale_id,
    mode: row.mode,
    amountMinor: row.amount_minor,
    currency: row.currency,
    paymentRequestId: row.payment_request_id,
    outcome: row.outcome,
    code: row.code,
    createdAtMs: row.created_at_ms,
    resolvedAtMs: row.resolved_at_ms ?? undefined,
  };
}
