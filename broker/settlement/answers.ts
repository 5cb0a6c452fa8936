import type { UnverifiedReading } from "../decisions/unverified-reading.ts";
import { assert } from "../../core/assert.ts";
import type { TapwireError } from "../../protocol/errors.ts";
import { parsePrincipalName } from "../../protocol/topics.ts";
import { declinedVerdict, type Outbound, type Recipient, type RequestSummary, type SignedDecision, type Verdict } from "../decisions/verdicts.ts";
import type { EvidenceStore } from "../evidence/evidence-store.ts";
import type { DecisionSigner } from "./decision-signer.ts";
import type { DecisionStore, StoredDecision } from "./decision-store.ts";

/**
 * The idempotency key of a request: the hub id for hub requests (as before), the principal name
 * (`agents/a1`, `wallets/w1`) for agents' and wallets' own requests. Hub ids cannot hold `/`, so they never clash.
 */
export type DecisionKey = string;

export interface ReceivedRequest {
  /** `hubs/h1`, `agents/a1`, `wallets/w1`. */
  principal: string;
  /** Its bytes, as admission read them. */
  reading: UnverifiedReading;
}

/**
 * The pipeline's last step: signs a decision and, for a request that was accepted, stores it as the request's
 * idempotency record; a verified request and its decision join the evidence chain. All in the caller's transaction.
 */
export class Answerer {
  constructor(
    private readonly deps: {
      decisions: DecisionStore;
      evidence: EvidenceStore;
      signer: DecisionSigner;
      /** The form a verified request is kept in: personal fields sealed (broker/privacy/sealed-evidence.ts). */
      storedRequest: (request: UnverifiedReading, nowMs: number) => Uint8Array;
    },
  ) {}

  /** The decision on a request that passed its gates, stored under (key, requestId) for every retry of it. */
  accept(key: DecisionKey, summary: RequestSummary, verdict: Verdict, request: ReceivedRequest, walletId: string | undefined, nowMs: number): Outbound[] {
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
    this.deps.decisions.saveDecision(stored);
    this.appendEvidence(summary, signed, request, nowMs);
    return outboundOf(stored);
  }

  /**
   * A declined decision that is signed but never stored: forgeries, malformed input, overload, storage faults.
   * `retryAfterMs` goes with the declines that ask for a later retry of the same bytes.
   */
  refuse(summary: RequestSummary, error: TapwireError, recipients: readonly Recipient[], nowMs: number, retryAfterMs?: number): Outbound[] {
    return addressed(this.deps.signer.sign(summary, declinedVerdict(error, retryAfterMs), nowMs), recipients);
  }

  /**
   * A gate's refusal of a request whose signature verified (a replay, an expired or reused one): signed and kept
   * as evidence with the request it answers, but not stored as its idempotency record.
   */
  refuseVerified(summary: RequestSummary, error: TapwireError, recipients: readonly Recipient[], request: ReceivedRequest, nowMs: number): Outbound[] {
    const signed = this.deps.signer.sign(summary, declinedVerdict(error), nowMs);
    this.appendEvidence(summary, signed, request, nowMs);
    return addressed(signed, recipients);
  }

  /**
   * The final answer to a request that was held (step-up, review): replaces its stored decision, so a retry
   * of the original request now gets the outcome, and joins the evidence.
   */
  conclude(key: DecisionKey, summary: RequestSummary, verdict: Verdict, principal: string, nowMs: number): SignedDecision {
    const signed = this.deps.signer.sign(summary, verdict, nowMs);
    this.deps.decisions.replaceDecision(key, summary.requestId, verdict.status, verdict.code, signed.bytes, signed.expMs);
    this.deps.evidence.append("decision", principal, summary.requestId, signed.bytes, nowMs);
    return signed;
  }

  private appendEvidence(summary: RequestSummary, signed: SignedDecision, request: ReceivedRequest, nowMs: number): void {
    const storedRequest = this.deps.storedRequest(request.reading, nowMs);
    this.deps.evidence.appendRequestAndDecision(request.principal, summary.requestId, storedRequest, signed.bytes, nowMs);
  }
}

function addressed(signed: SignedDecision, recipients: readonly Recipient[]): Outbound[] {
  return recipients.map((r) => ({ kind: r.kind, id: r.id, payload: signed.bytes, expiresAtMs: signed.expMs }));
}

/**
 * Who gets a stored decision again: the hub whose request or tag offer it answers (and the paying wallet, tag mode),
 * or the agent or wallet that sent its own request (its key is then its principal name).
 */
function recipientsOf(stored: StoredDecision): Recipient[] {
  if (stored.principalKind === "hub" || stored.walletId !== undefined) {
    const recipients: Recipient[] = [{ kind: "hub", id: stored.hubId }];
    if (stored.walletId !== undefined) recipients.push({ kind: "wallet", id: stored.walletId });
    return recipients;
  }
  const principal = parsePrincipalName(stored.hubId);
  assert(principal?.kind === stored.principalKind, `decision key ${stored.hubId} is not a ${stored.principalKind}'s`);
  return [{ kind: stored.principalKind, id: principal.id }];
}

/** A stored decision, addressed again to everyone it answered: what a retry of the same request gets back. */
export function outboundOf(stored: StoredDecision): Outbound[] {
  return addressed({ bytes: stored.decision, expMs: stored.expMs }, recipientsOf(stored));
}
