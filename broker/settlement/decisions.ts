import { createPublicKey, type KeyObject } from "node:crypto";
import { assert } from "../../core/assert.ts";
import { decodeBody } from "../../protocol/cbor.ts";
import { errorCodeName, type TapwireError } from "../../protocol/errors.ts";
import { sealMessage } from "../../protocol/envelope.ts";
import { isId } from "../../protocol/ids.ts";
import type { ClientKind } from "../../protocol/topics.ts";
import { keyId } from "../../protocol/keys.ts";
import {
  bodyHash,
  decisionSchema,
  protocolVersion,
  zeroHash,
  type BatchReport,
  type Decision,
  type DecisionStatus,
  type Receipt,
} from "../../protocol/messages.ts";

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
}

export interface SignedDecision {
  bytes: Buffer;
  expMs: number;
}

const reasonMax = 200;
const requestTypeMax = 32;

export function approvedVerdict(extra: Pick<Verdict, "receipt" | "batch"> = {}): Verdict {
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

/** Signs decisions with the service key; every decision carries `exp = iat + decisionTtlMs`. */
export class DecisionSigner {
  private readonly kid: Uint8Array;

  constructor(
    private readonly serviceKey: KeyObject,
    private readonly decisionTtlMs: number,
  ) {
    this.kid = keyId(createPublicKey(serviceKey));
  }

  sign(summary: RequestSummary, verdict: Verdict, nowMs: number): SignedDecision {
    const expMs = nowMs + this.decisionTtlMs;
    const body: Decision = {
      type: "decision",
      v: protocolVersion,
      requestId: summary.requestId,
      requestType: summary.requestType,
      requestHash: new Uint8Array(summary.requestHash),
      principalKind: summary.principalKind,
      hubId: summary.hubId,
      status: verdict.status,
      code: verdict.code,
      reason: verdict.reason,
      iat: nowMs,
      exp: expMs,
      ...(verdict.receipt ? { receipt: verdict.receipt } : {}),
      ...(verdict.batch ? { batch: verdict.batch } : {}),
      ...(verdict.caseId ? { caseId: verdict.caseId } : {}),
      ...(verdict.retryAfterMs === undefined ? {} : { retryAfterMs: verdict.retryAfterMs }),
    };
    // Paired with the hub's parse on receipt: a decision we could not read back is a bug here, not there.
    const check = decisionSchema.safeParse(body);
    assert(check.success, `decision fails its own schema: ${check.error?.message ?? ""}`);
    return { bytes: sealMessage(body, this.serviceKey, this.kid), expMs };
  }
}

/** `w…42`: enough for a person to recognise their wallet on a receipt, not enough to identify it. */
export function maskPayer(walletId: string): string {
  return walletId.length <= 3 ? "…" : `${walletId.slice(0, 1)}…${walletId.slice(-2)}`;
}
