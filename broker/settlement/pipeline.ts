import { isTapwireError } from "../../protocol/errors.ts";
import { principalName } from "../../protocol/topics.ts";
import { decide, type Outbound, type Recipient, type Verdict } from "../decisions/verdicts.ts";
import type { Hub } from "../registry/principals.ts";
import { senderOf, type Admission, type Admitted } from "./admission.ts";
import { outboundOf, type Answerer, type DecisionKey } from "./answers.ts";
import type { ClientRequests } from "./client-requests.ts";
import type { Gate, Gates } from "./gates.ts";
import type { HubRequests } from "./hub-requests.ts";

export interface PipelineDeps {
  gates: Gates;
  hubRequests: HubRequests;
  clientRequests: ClientRequests;
  answerer: Answerer;
}

/** How one kind of admitted message goes through the steps that differ by kind. */
interface Route<Passed> {
  /** Under which key its decision is stored, for every retry of it. */
  key: DecisionKey;
  /** Set for a tag payment, whose decision also goes to the paying wallet. */
  walletId: string | undefined;
  gate: () => Gate<Passed>;
  /** Authorize and post; throws a TapwireError to decline. `pushes` takes decisions for other senders. */
  authorize: (passed: Passed, pushes: Outbound[]) => Verdict;
}

/**
 * The request pipeline, one message at a time inside the batch transaction, as a straight line:
 * verify and admit (admission.ts, before the transaction) → gates (gates.ts) → authorize and post
 * (hub-requests.ts, client-requests.ts; captures.ts, refunds.ts) → answer (answers.ts).
 *
 * A gate's refusal is signed and kept as evidence but not stored; a request through the gates is accepted: its
 * decision, approved or declined, is signed and stored under (key, requestId) before the batch commits.
 */
export class RequestPipeline {
  constructor(private readonly deps: PipelineDeps) {}

  process(admission: Admission, nowMs: number): Outbound[] {
    switch (admission.outcome) {
      case "refused":
        return this.deps.answerer.refuse(admission.summary, admission.error, admission.recipients, nowMs);
      case "hub_request":
        return this.run(admission, this.hubRequest(admission, nowMs), nowMs);
      case "wallet_tag":
        return this.run(admission, this.walletTag(admission, nowMs), nowMs);
      case "agent_payment":
        return this.run(admission, this.agentPayment(admission, nowMs), nowMs);
      case "wallet_request":
        return this.run(admission, this.walletRequest(admission, nowMs), nowMs);
    }
  }

  private run<Passed>(admitted: Admitted, route: Route<Passed>, nowMs: number): Outbound[] {
    const sender: Recipient = senderOf(admitted);
    const request = { principal: principalName(sender), reading: admitted.reading };
    let gate: Gate<Passed>;
    try {
      gate = route.gate();
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      return this.deps.answerer.refuseVerified(admitted.summary, error, [sender], request, nowMs);
    }
    if ("replay" in gate) return outboundOf(gate.replay);
    const pushes: Outbound[] = [];
    const verdict = decide(() => route.authorize(gate.passed, pushes));
    return [...this.deps.answerer.accept(route.key, admitted.summary, verdict, request, route.walletId, nowMs), ...pushes];
  }

  private hubRequest(a: Extract<Admission, { outcome: "hub_request" }>, nowMs: number): Route<Hub> {
    return {
      key: a.hubId,
      walletId: undefined,
      gate: () => this.deps.gates.hubRequest(a, nowMs),
      authorize: (hub) => this.deps.hubRequests.authorize(hub, a.request, a.summary, a.checks, nowMs, a.provider),
    };
  }

  private walletTag(a: Extract<Admission, { outcome: "wallet_tag" }>, nowMs: number): Route<Hub> {
    return {
      key: a.hubId,
      walletId: a.walletId,
      gate: () => this.deps.gates.walletTag(a, nowMs),
      authorize: (hub) => this.deps.hubRequests.payTag(hub, a.walletId, a.offer, nowMs),
    };
  }

  private agentPayment(a: Extract<Admission, { outcome: "agent_payment" }>, nowMs: number): Route<undefined> {
    const key = principalName(senderOf(a));
    return {
      key,
      walletId: undefined,
      gate: () => this.deps.gates.agentPayment(a, key, nowMs),
      authorize: () => this.deps.clientRequests.authorizeAgentPayment(a, key, nowMs),
    };
  }

  private walletRequest(a: Extract<Admission, { outcome: "wallet_request" }>, nowMs: number): Route<undefined> {
    const key = principalName(senderOf(a));
    return {
      key,
      walletId: undefined,
      gate: () => this.deps.gates.walletRequest(a, key, nowMs),
      authorize: (_passed, pushes) => this.deps.clientRequests.authorizeWalletRequest(a, key, pushes, nowMs),
    };
  }
}
