import type { AgentPayments } from "../agents/agent-payments.ts";
import { approvedVerdict, type Outbound, type Recipient, type Verdict } from "../decisions/verdicts.ts";
import type { ReviewDesk } from "../review/review-desk.ts";
import type { Admission } from "./admission.ts";
import { disputeContext, type DisputeDeps } from "./disputes.ts";

export interface ClientRequestDeps {
  agentPayments: AgentPayments;
  desk: ReviewDesk;
  disputes: DisputeDeps;
}

type AgentAdmission = Extract<Admission, { outcome: "agent_payment" }>;
type WalletAdmission = Extract<Admission, { outcome: "wallet_request" }>;

/**
 * The pipeline's authorize and post steps for agents' and wallets' own requests, past the gates: a closed
 * mandate is paid, held or declined (agent-payments.ts); a wallet registers or revokes a mandate, answers a
 * step-up, or opens a dispute. Throws a TapwireError to decline.
 */
export class ClientRequests {
  constructor(private readonly deps: ClientRequestDeps) {}

  authorizeAgentPayment(a: AgentAdmission, key: string, nowMs: number): Verdict {
    return this.deps.agentPayments.evaluate(a.payment, a.summary, key, nowMs);
  }

  /** `pushes` receives the final decision a step-up answer gives the held request's own sender. */
  authorizeWalletRequest(a: WalletAdmission, key: string, pushes: Outbound[], nowMs: number): Verdict {
    const sender: Recipient = { kind: "wallet", id: a.walletId };
    const message = a.message;
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
