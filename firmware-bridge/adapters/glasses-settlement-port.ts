import type { SettlementPort } from "../../device/glasses/ports.ts";
import { assert } from "../../protocol/assert.ts";
import { logger } from "../../protocol/log.ts";
import type { Decision } from "../../protocol/messages.ts";
import type { DecisionReply, HubLink } from "../mqtt/hub-link.ts";

const log = logger("tapwire:glasses-adapters");

/** The part of HubLink the settlement port uses. */
export type DecisionRequester = Pick<HubLink, "request">;

/** device/'s glasses SettlementPort over the hub's MQTT link: one signed request, its verified decision. */
export class HubLinkSettlementPort implements SettlementPort {
  constructor(private readonly link: DecisionRequester) {}

  async send(payload: Buffer, requestId: string, timeoutMs: number): Promise<Decision> {
    const reply = await this.link.request(payload, requestId, timeoutMs);
    return reply.decision;
  }
}

/** Listeners of unmatched decisions at once, at most: one runtime and a few observers. */
export const lateDecisionListenersMax = 8;

/**
 * Decisions nobody was waiting for: the end of a human review, or an answer that came after its request
 * timed out. HubLink is built before the hub that consumes them, so it is handed `receive` as its
 * `onUnmatchedDecision`, and the hub subscribes later. Without a subscriber a decision is logged and dropped:
 * the hub only acts on decisions that answer the purchase in progress.
 */
export class LateDecisions {
  private readonly listeners = new Set<(decision: Decision) => void>();

  readonly receive = (reply: DecisionReply): void => {
    if (this.listeners.size === 0) {
      log.info({ requestId: reply.decision.requestId, status: reply.decision.status }, "late decision with no hub to take it");
      return;
    }
    for (const listener of this.listeners) listener(reply.decision);
  };

  subscribe(listener: (decision: Decision) => void): () => void {
    assert(this.listeners.size < lateDecisionListenersMax, `at most ${lateDecisionListenersMax} late-decision listeners`);
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }
}
