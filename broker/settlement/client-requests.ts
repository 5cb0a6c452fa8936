import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import { principalName } from "../../protocol/topics.ts";
import type { AgentPayments } from "../agents/agent-payments.ts";
import type { AgentRegistry } from "../agents/agent-registry.ts";
import type { MandateStore } from "../agents/mandate-store.ts";
import { disputeContext, type DisputeDeps } from "../review/disputes.ts";
import type { ReviewDesk } from "../review/review-desk.ts";
import type { Admission, Recipient, WalletMessage } from "./admission.ts";
import { outboundOf, type Answerer, type Outbound, type ReceivedRequest } from "./answers.ts";
import { approvedVerdict, declinedVerdict, type RequestSummary, type Verdict } from "./decisions.ts";
import type { SettlementStore, StoredDecision } from "./settlement-store.ts";

export interface ClientRequestDeps {
  store: SettlementStore;
  answerer: Answerer;
  agents: AgentRegistry;
  mandates: MandateStore;
  agentPayments: AgentPayments;
  desk: ReviewDesk;
  disputes: DisputeDeps;
  /** Checks iat/exp against the clock and the lifetime limit (the same rules as hub requests). */
  checkTimes: (iatMs: number, expMs: number, nowMs: number) => void;
  clockSkewMs: number;
  /** Declines a verified request at a gate: signed, kept as evidence, not stored for idempotency. */
  refuse: (summary: RequestSummary, error: TapwireError, recipients: readonly Recipient[], request: ReceivedRequest, nowMs: number) => Outbound[];
}

type AgentAdmission = Extract<Admission, { outcome: "agent_payment" }>;
type WalletAdmission = Extract<Admission, { outcome: "wallet_request" }>;

/**
 * Agents' and wallets' own requests, inside the settlement transaction. Same shape as hub requests: gates
 * refuse without storing; past the gates the request is consumed, executed, and its decision stored under
 * (`agents/<id>` or `wallets/<id>`, requestId) so a retry of the same body gets the same answer.
 */
export class ClientRequests {
  constructor(private readonly deps: ClientRequestDeps) {}

  processAgentPayment(a: AgentAdmission, nowMs: number): Outbound[] {
    const sender: Recipient[] = [{ kind: "agent", id: a.agentId }];
    const key = principalName({ kind: "agent", id: a.agentId });
    let replay: StoredDecision | undefined;
    try {
      replay = this.agentGate(a, key, nowMs);
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      return this.deps.refuse(a.summary, error, sender, { principal: key, bytes: a.bytes }, nowMs);
    }
    if (replay) return outboundOf(replay);
    const verdict = decide(() => this.deps.agentPayments.evaluate(a.payment, a.summary, key, nowMs));
    return outboundOf(this.deps.answerer.accept(key, a.summary, verdict, { principal: key, bytes: a.bytes }, undefined, nowMs));
  }

  /**
   * Copies are told apart by the bytes: the exact bytes seen before are a replayed closed mandate
   * (MandateReplayed); the same body signed again by the agent is a retry and gets the first decision.
   * Either way nothing is posted twice.
   */
  private agentGate(a: AgentAdmission, key: string, nowMs: number): StoredDecision | undefined {
    const { agents, mandates, store } = this.deps;
    agents.getActiveAgent(a.agentId);
    this.deps.checkTimes(a.payment.iat, a.payment.exp, nowMs);
    if (mandates.isClosedConsumed(a.closedHash)) {
      throw new TapwireError(`closed mandate ${a.payment.requestId} was already consumed`, ErrorCode.MandateReplayed, { requestId: a.payment.requestId });
    }
    const stored = store.findDecision(key, a.payment.requestId);
    if (stored && !sameBytes(stored.bodyHash, a.hash)) {
      throw new TapwireError(`request id ${a.payment.requestId} was used for a different payment`, ErrorCode.RequestIdReused, { requestId: a.payment.requestId });
    }
    mandates.consumeClosed(a.closedHash, a.agentId, a.payment.requestId, a.payment.mandateId, nowMs);
    return stored;
  }

  processWalletRequest(a: WalletAdmission, nowMs: number): Outbound[] {
    const sender: Recipient = { kind: "wallet", id: a.walletId };
    const key = principalName(sender);
    let replay: StoredDecision | undefined;
    try {
      replay = this.walletGate(a, key, nowMs);
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      return this.deps.refuse(a.summary, error, [sender], { principal: key, bytes: a.bytes }, nowMs);
    }
    if (replay) return outboundOf(replay);
    const pushes: Outbound[] = [];
    const verdict = decide(() => this.executeWallet(a, sender, key, pushes, nowMs));
    return [...outboundOf(this.deps.answerer.accept(key, a.summary, verdict, { principal: key, bytes: a.bytes }, undefined, nowMs)), ...pushes];
  }

  private walletGate(a: WalletAdmission, key: string, nowMs: number): StoredDecision | undefined {
    const message = a.message;
    if (message.type === "open_mandate") {
      if (message.iat > nowMs + this.deps.clockSkewMs) {
        throw new TapwireError(`mandate iat ${message.iat} is ahead of ${nowMs}`, ErrorCode.MessageNotYetValid);
      }
    } else {
      this.deps.checkTimes(message.iat, message.exp, nowMs);
    }
    const stored = this.deps.store.findDecision(key, a.summary.requestId);
    if (stored && !sameBytes(stored.bodyHash, a.hash)) {
      throw new TapwireError(`request id ${a.summary.requestId} was used for a different request`, ErrorCode.RequestIdReused, { requestId: a.summary.requestId });
    }
    return stored;
  }

  private executeWallet(a: WalletAdmission, sender: Recipient, key: string, pushes: Outbound[], nowMs: number): Verdict {
    const message: WalletMessage = a.message;
    switch (message.type) {
      case "open_mandate":
        return this.deps.agentPayments.registerMandate(message, a.bytes, a.hash, nowMs);
      case "mandate_revoke":
        return this.deps.agentPayments.revokeMandate(message, nowMs);
      case "step_up_approval": {
        const outcome = this.deps.desk.answerStepUp(message.caseId, message.walletId, message.answer, sender, nowMs);
        pushes.push(...outcome.pushes);
        if (message.answer === "deny") return { ...approvedVerdict(), reason: "step-up denied; the payment is declined", caseId: message.caseId };
        return { ...outcome.verdict, caseId: message.caseId };
      }
      case "dispute_open": {
        const context = disputeContext(this.deps.disputes, message);
        return this.deps.desk.openDispute(
          { requester: sender, decisionKey: key, summary: a.summary, walletId: message.walletId, held: { source: "dispute", paymentId: message.paymentId, walletId: message.walletId }, context, reason: message.reason },
          nowMs,
        );
      }
    }
  }
}

/** Typed refusals in the business step become a stored decline; anything else aborts the batch. */
export function decide(execute: () => Verdict): Verdict {
  try {
    return execute();
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return declinedVerdict(error);
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
