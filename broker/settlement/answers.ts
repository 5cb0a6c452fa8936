import { parsePrincipalName } from "../../protocol/topics.ts";
import { assert } from "../../core/assert.ts";
import type { EvidenceStore } from "../evidence/evidence-store.ts";
import type { Recipient } from "./admission.ts";
import type { DecisionSigner, RequestSummary, SignedDecision, Verdict } from "./decisions.ts";
import type { SettlementStore, StoredDecision } from "./settlement-store.ts";

/** One signed decision addressed to one principal; the broker publishes it on that principal's `res` topic. */
export interface Outbound {
  kind: Recipient["kind"];
  id: string;
  /** COSE_Sign1 Decision signed by the service key. */
  payload: Buffer;
  /** The decision's own `exp`: publish with a message expiry that ends here. */
  expiresAtMs: number;
}

/**
 * The idempotency key of a request: the hub id for hub requests (as before), the principal name
 * (`agents/a1`, `wallets/w1`) for agents' and wallets' own requests. Hub ids cannot hold `/`, so they never clash.
 */
export type DecisionKey = string;

export interface ReceivedRequest {
  /** `hubs/h1`, `agents/a1`, `wallets/w1`. */
  principal: string;
  bytes: Uint8Array;
}

/**
 * Signs a decision, stores it as the idempotency record of its request, and appends both the request and
 * the decision to the evidence chain, all in the caller's transaction.
 */
export class Answerer {
  constructor(
    private readonly deps: { store: SettlementStore; evidence: EvidenceStore; signer: DecisionSigner },
  ) {}

  accept(key: DecisionKey, summary: RequestSummary, verdict: Verdict, request: ReceivedRequest, walletId: string | undefined, nowMs: number): StoredDecision {
    const signed = this.deps.signer.sign(summary, verdict, nowMs);
    const stored: StoredDecision = {
      hubId: key,
      principalKind: summary.principalKind,
      requestId: summary.requestId,
      bodyHash: summary.requestHash,
      requestType: summary.requestType,
      status: verdict.status,
      code: verdict.code,
      walletId,
      decision: signed.bytes,
      expMs: signed.expMs,
      createdAtMs: nowMs,
    };
    this.deps.store.saveDecision(stored);
    this.deps.evidence.append("request", request.principal, summary.requestId, request.bytes, nowMs);
    this.deps.evidence.append("decision", request.principal, summary.requestId, signed.bytes, nowMs);
    return stored;
  }

  /**
   * A refusal of a request whose signature verified (a replay, an expired or reused one): signed and kept as
   * evidence with the request it answers, but not stored as its idempotency record.
   */
  record(summary: RequestSummary, verdict: Verdict, request: ReceivedRequest, nowMs: number): SignedDecision {
    const signed = this.deps.signer.sign(summary, verdict, nowMs);
    this.deps.evidence.append("request", request.principal, summary.requestId, request.bytes, nowMs);
    this.deps.evidence.append("decision", request.principal, summary.requestId, signed.bytes, nowMs);
    return signed;
  }

  /**
   * The final answer to a request that was held (step-up, review): replaces its stored decision, so a retry
   * of the original request now gets the outcome, and joins the evidence.
   */
  conclude(key: DecisionKey, summary: RequestSummary, verdict: Verdict, principal: string, nowMs: number): SignedDecision {
    const signed = this.deps.signer.sign(summary, verdict, nowMs);
    this.deps.store.replaceDecision(key, summary.requestId, verdict.status, verdict.code, signed.bytes, signed.expMs);
    this.deps.evidence.append("decision", principal, summary.requestId, signed.bytes, nowMs);
    return signed;
  }
}

/**
 * Who gets a stored decision again: the hub whose request or tag offer it answers (and the paying wallet, tag mode),
 * or the agent or wallet that sent its own request (its key is then its principal name).
 */
export function recipientsOf(stored: StoredDecision): Recipient[] {
  if (stored.principalKind === "hub" || stored.walletId !== undefined) {
    const recipients: Recipient[] = [{ kind: "hub", id: stored.hubId }];
    if (stored.walletId !== undefined) recipients.push({ kind: "wallet", id: stored.walletId });
    return recipients;
  }
  const principal = parsePrincipalName(stored.hubId);
  assert(principal?.kind === stored.principalKind, `decision key ${stored.hubId} is not a ${stored.principalKind}'s`);
  return [{ kind: stored.principalKind, id: principal.id }];
}

export function outboundOf(stored: StoredDecision): Outbound[] {
  return recipientsOf(stored).map((r) => ({ kind: r.kind, id: r.id, payload: stored.decision, expiresAtMs: stored.expMs }));
}
