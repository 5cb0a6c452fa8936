import { assert } from "../../core/assert.ts";
import { encodeBody } from "../../protocol/cbor.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { CaseKind, OperatorAction, StepUpAnswer } from "../../protocol/review.ts";
import { principalName, type ClientKind } from "../../protocol/topics.ts";
import type { EvidenceStore } from "../evidence/evidence-store.ts";
import { decide, declinedVerdict, type Outbound, type Recipient, type RequestSummary, type SignedDecision, type Verdict } from "../decisions/verdicts.ts";
import type { ReviewPolicy } from "./risk.ts";
import type { HeldPayment, ReviewCase, ReviewStore } from "./review-store.ts";

/** Posts what a case held, once it is approved; throws a TapwireError to decline (budget, funds, voided). */
export interface PaymentPoster {
  post(held: HeldPayment, caseId: string, nowMs: number): Verdict;
}

/**
 * Signs the final decision on a held request, replaces the stored (held) one so a retry gets the outcome, and
 * adds it to the evidence: the settlement pipeline's answer step does this for the desk.
 */
export interface FinalAnswerer {
  conclude(decisionKey: string, summary: RequestSummary, verdict: Verdict, principal: string, nowMs: number): SignedDecision;
}

export interface CaseOpening {
  kind: Exclude<CaseKind, "dispute">;
  requester: Recipient;
  decisionKey: string;
  summary: RequestSummary;
  walletId: string;
  held: HeldPayment;
  context: Record<string, string>;
  /** Why it is held, and the code the held decision carries (HeldForStepUp or HeldForReview). */
  reason: string;
  code: number;
}

export interface CaseOutcome {
  /** The final decision on the held request. */
  verdict: Verdict;
  /** That decision, signed, for the request's sender (omitted when the sender is who answered). */
  pushes: Outbound[];
}

export const expirySweepMax = 256;

/**
 * Holds payments for a person's step-up or an operator's review, and applies the answer exactly once: the
 * pending → decided transition happens in the same transaction as the posting and the signed final decision,
 * so a second answer (or a concurrent one) finds the case decided (ReviewAlreadyDecided).
 */
export class ReviewDesk {
  constructor(
    private readonly deps: { store: ReviewStore; answerer: FinalAnswerer; evidence: EvidenceStore; policy: ReviewPolicy; poster: PaymentPoster },
  ) {}

  hold(opening: CaseOpening, nowMs: number): Verdict {
    const ttlMs = opening.kind === "step_up" ? this.deps.policy.stepUpTtlMs : this.deps.policy.humanReviewTtlMs;
    const opened = this.openCase(opening.kind, opening, nowMs, nowMs + ttlMs);
    return {
      status: opening.kind === "step_up" ? "step_up_required" : "human_review",
      code: opening.code,
      reason: opening.reason.slice(0, 200),
      caseId: opened.caseId,
    };
  }

  /** A dispute waits for an operator with no expiry; its final decision answers the dispute_open request. */
  openDispute(opening: Omit<CaseOpening, "kind" | "code">, nowMs: number): Verdict {
    const opened = this.openCase("dispute", opening, nowMs, undefined);
    return { status: "human_review", code: 0, reason: "dispute opened; an operator will decide", caseId: opened.caseId };
  }

  private openCase(kind: CaseKind, opening: Omit<CaseOpening, "kind" | "code">, nowMs: number, expiresAtMs: number | undefined): ReviewCase {
    return this.deps.store.insert({
      kind,
      requesterKind: opening.requester.kind,
      requesterId: opening.requester.id,
      decisionKey: opening.decisionKey,
      decisionHubId: opening.summary.hubId,
      requestId: opening.summary.requestId,
      requestType: opening.summary.requestType,
      requestHash: opening.summary.requestHash,
      walletId: opening.walletId,
      held: opening.held,
      context: opening.context,
      reason: opening.reason,
      createdAtMs: nowMs,
      expiresAtMs,
    });
  }

  /** The person's signed answer (from the wallet, or a glasses hub's fresh biometric assertion). */
  answerStepUp(caseId: string, walletId: string, answer: StepUpAnswer, answeredBy: Recipient, nowMs: number): CaseOutcome {
    const held = this.requirePending(caseId, nowMs);
    if (held.kind !== "step_up") throw new TapwireError(`case ${caseId} is not a step-up`, ErrorCode.ApprovalInvalid, { caseId });
    if (held.walletId !== walletId) {
      throw new TapwireError(`case ${caseId} belongs to another wallet`, ErrorCode.WalletMismatch, { caseId });
    }
    const outcome = this.settle(held, answer === "approve", principalName(answeredBy), ErrorCode.StepUpDenied, nowMs);
    const sameSender = answeredBy.kind === held.requesterKind && answeredBy.id === held.requesterId;
    return sameSender ? { verdict: outcome.verdict, pushes: [] } : outcome;
  }

  /** An operator's answer to a review or a dispute. Step-ups need the person, not an operator. */
  decide(caseId: string, action: OperatorAction, operatorId: string, nowMs: number): CaseOutcome {
    const held = this.requirePending(caseId, nowMs);
    if (held.kind === "step_up") throw new TapwireError(`case ${caseId} waits for the person, not an operator`, ErrorCode.ApprovalInvalid, { caseId });
    const operator = `operators/${operatorId}`;
    this.deps.evidence.append("operator", operator, held.requestId, encodeBody({ type: "operator_decision", caseId, action, operatorId, atMs: nowMs }), nowMs);
    const outcome = this.settle(held, action === "approve", operator, ErrorCode.ReviewDeclined, nowMs);
    this.queue(outcome.pushes, nowMs);
    return outcome;
  }

  /** Declines every pending case past its expiry and queues the decline for its sender. */
  expire(nowMs: number): number {
    const expired = this.deps.store.expiredBefore(nowMs, expirySweepMax);
    for (const held of expired) {
      const error = new TapwireError(`case ${held.caseId} expired unanswered`, ErrorCode.ReviewExpired, { caseId: held.caseId });
      const closed = this.deps.store.close(held.caseId, "expired", "services/settlement", error.code, nowMs);
      assert(closed, `case ${held.caseId} was pending`);
      this.queue([this.conclude(held, declinedVerdict(error), nowMs)], nowMs);
    }
    return expired.length;
  }

  /** The case, if it can still be answered: ReviewNotFound, ReviewAlreadyDecided or ReviewExpired otherwise. */
  requirePending(caseId: string, nowMs: number): ReviewCase {
    const held = this.deps.store.find(caseId);
    if (!held) throw new TapwireError(`no case ${caseId}`, ErrorCode.ReviewNotFound, { caseId });
    if (held.status !== "pending") {
      throw new TapwireError(`case ${caseId} is already ${held.status}`, ErrorCode.ReviewAlreadyDecided, { caseId, status: held.status });
    }
    if (held.expiresAtMs !== undefined && held.expiresAtMs <= nowMs) {
      throw new TapwireError(`case ${caseId} expired at ${held.expiresAtMs}`, ErrorCode.ReviewExpired, { caseId });
    }
    return held;
  }

  private settle(held: ReviewCase, approve: boolean, decidedBy: string, refusalCode: ErrorCode, nowMs: number): CaseOutcome {
    const verdict = approve
      ? decide(() => this.deps.poster.post(held.held, held.caseId, nowMs))
      : declinedVerdict(new TapwireError(`${decidedBy} declined case ${held.caseId}`, refusalCode, { caseId: held.caseId }));
    const closed = this.deps.store.close(held.caseId, verdict.status === "approved" ? "approved" : "declined", decidedBy, verdict.code, nowMs);
    assert(closed, `case ${held.caseId} was pending`);
    const final = { ...verdict, caseId: held.caseId };
    return { verdict: final, pushes: [this.conclude(held, final, nowMs)] };
  }

  private conclude(held: ReviewCase, verdict: Verdict, nowMs: number): Outbound {
    const summary: RequestSummary = {
      principalKind: held.requesterKind,
      hubId: held.decisionHubId,
      requestId: held.requestId,
      requestType: held.requestType,
      requestHash: held.requestHash,
    };
    const requester = principalName({ kind: held.requesterKind, id: held.requesterId });
    const signed = this.deps.answerer.conclude(held.decisionKey, summary, { ...verdict, caseId: held.caseId }, requester, nowMs);
    return { kind: held.requesterKind, id: held.requesterId, payload: signed.bytes, expiresAtMs: signed.expMs };
  }

  private queue(pushes: readonly Outbound[], nowMs: number): void {
    for (const push of pushes) this.deps.store.queuePush(push.kind as ClientKind, push.id, push.payload, push.expiresAtMs, nowMs);
  }
}
