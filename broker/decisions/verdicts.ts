import { decodeBody } from "../../protocol/cbor.ts";
import { errorCodeName, isTapwireError, type TapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import type { FxQuote } from "../../protocol/fx.ts";
import { bodyHash, zeroHash, type BatchReport, type DecisionStatus, type Receipt } from "../../protocol/messages.ts";
import type { ClientKind } from "../../protocol/topics.ts";

/**
 * What a decision says, shared by the settlement pipeline and the services it calls (agents, review, campaigns).
 * A leaf: it imports only protocol/, so those folders depend on it and never on each other's modules for it.
 */

/** A message as it arrives from the broker. (kind, id) come from the topic, which only its owner may publish to. */
export interface Inbound {
  kind: ClientKind;
  id: string;
  payload: Uint8Array;
}

/** Who a decision is addressed to. */
export interface Recipient {
  kind: ClientKind;
  id: string;
}

/** One signed decision addressed to one principal; the broker publishes it on that principal's `res` topic. */
export interface Outbound {
  kind: Recipient["kind"];
  id: string;
  /** COSE_Sign1 Decision signed by the service key. */
  payload: Buffer;
  /** The decision's own `exp`: publish with a message expiry that ends here. */
  expiresAtMs: number;
}

/** What a decision says it answers. */
export interface RequestSummary {
  /** Who sent the request (its topic's kind). */
  principalKind: ClientKind;
  /** The hub the request concerns; for a wallet's or agent's own request, or one whose hub cannot be read, the sender's id. */
  hubId: string;
  requestId: string;
  requestType: string;
  requestHash: Uint8Array;
}

export interface Verdict {
  status: DecisionStatus;
  code: number;
  reason: string;
  receipt?: Receipt;
  batch?: BatchReport;
  caseId?: string;
  retryAfterMs?: number;
  /** A converted payment's locked quote, or the part of it a refund or reversal gave back. */
  fx?: FxQuote;
}

export interface SignedDecision {
  bytes: Buffer;
  expMs: number;
}

const reasonMax = 200;
const requestTypeMax = 32;

export function approvedVerdict(extra: Pick<Verdict, "receipt" | "batch" | "fx"> = {}): Verdict {
  return { status: "approved", code: 0, reason: "approved", ...extra };
}

export function declinedVerdict(error: TapwireError, retryAfterMs?: number): Verdict {
  return {
    status: "declined",
    code: error.code,
    reason: `${errorCodeName(error.code)}: ${error.message}`.slice(0, reasonMax),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}

/** Typed refusals in the business step become a declined verdict; anything else (a bug) is thrown on. */
export function decide(execute: () => Verdict): Verdict {
  try {
    return execute();
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return declinedVerdict(error);
  }
}

/**
 * Best effort for a message that failed before (or at) its signature check: the payload hash is a fact about
 * the bytes, and an unverified requestId is only echoed to the topic owner, who helps itself by correlating.
 */
export function describeUnverified(payload: Uint8Array | undefined, sender: { kind: ClientKind; id: string }): RequestSummary {
  const summary: RequestSummary = { principalKind: sender.kind, hubId: sender.id, requestId: "", requestType: "", requestHash: zeroHash };
  if (payload === undefined) return summary;
  summary.requestHash = bodyHash(payload);
  try {
    const body = decodeBody(payload);
    if (typeof body === "object" && body !== null) {
      const { requestId, type } = body as Record<string, unknown>;
      if (typeof requestId === "string" && isId(requestId)) summary.requestId = requestId;
      if (typeof type === "string" && type.length <= requestTypeMax) summary.requestType = type;
    }
  } catch {
    // An unreadable body leaves the summary at what the bytes alone tell.
  }
  return summary;
}

/** `w…42`: enough for a person to recognise their wallet on a receipt, not enough to identify it. */
export function maskPayer(walletId: string): string {
  return walletId.length <= 3 ? "…" : `${walletId.slice(0, 1)}…${walletId.slice(-2)}`;
}
