import { createPublicKey, type KeyObject } from "node:crypto";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import type { DecisionReply, HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { importPrivatePem } from "../../protocol/keys.ts";
import { sealAgentPayment, type AgentPayment, type Cart } from "../../protocol/mandates.ts";
import type { Decision } from "../../protocol/messages.ts";
import { systemClock, systemRandom, type Clock, type Random } from "../../core/sources.ts";
import { clientLink } from "../client-link.ts";

export interface SimAgentOptions {
  bundle: EnrolmentBundle;
  url: string;
  clock?: Clock;
  random?: Random;
  requestLifetimeMs?: number;
  decisionTimeoutMs?: number;
  /** Outcomes pushed later (a step-up the person answered, an operator's review). */
  pushedMax?: number;
}

export interface AgentPurchase {
  mandateId: string;
  merchantId: string;
  category: string;
  amountMinor: number;
  currency: string;
  cart: Cart;
  context?: Record<string, string>;
}

/**
 * The simulator's AI agent: holds its own key (the one the person named in the open mandate) and its own
 * client certificate, closes mandates into signed `agent_payment`s with no person present, and hears pushed
 * outcomes of held payments.
 */
export class SimAgent {
  private readonly key: KeyObject;
  private readonly link: HubLink;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly pushed: Decision[] = [];
  private readonly pushedWaiters: Array<(decision: Decision) => void> = [];

  constructor(private readonly options: SimAgentOptions) {
    if (!options.bundle.keyPem) throw new TapwireError("the agent needs its private key", ErrorCode.ConfigInvalid);
    this.key = importPrivatePem(options.bundle.keyPem);
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
    this.link = clientLink(options.bundle, options.url, (reply) => this.onPushed(reply));
  }

  get agentId(): string {
    return this.options.bundle.principal.id;
  }

  get publicKey(): KeyObject {
    return createPublicKey(this.key);
  }

  async start(): Promise<void> {
    this.link.start();
    await this.link.waitConnected(this.options.decisionTimeoutMs ?? 5_000);
  }

  stop(): Promise<void> {
    return this.link.stop();
  }

  /** Signs a closed mandate for one purchase; send it with `send` (twice, to show a replay). */
  close(purchase: AgentPurchase): { requestId: string; bytes: Buffer } {
    const iat = this.clock.nowMs();
    const body: AgentPayment = {
      type: "agent_payment",
      v: 1,
      agentId: this.agentId,
      requestId: `${this.agentId}-${this.random.uuid()}`,
      iat,
      exp: iat + (this.options.requestLifetimeMs ?? 60_000),
      nonce: this.random.bytes(16),
      ...purchase,
    };
    return { requestId: body.requestId, bytes: sealAgentPayment(body, this.key, this.publicKey) };
  }

  async send(closed: { requestId: string; bytes: Buffer }): Promise<Decision> {
    return (await this.link.request(closed.bytes, closed.requestId, this.options.decisionTimeoutMs ?? 5_000)).decision;
  }

  /** The next outcome pushed for a held payment; DecisionTimeout after timeoutMs. */
  nextPushed(timeoutMs: number): Promise<Decision> {
    const ready = this.pushed.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pushedWaiters.splice(this.pushedWaiters.indexOf(waiter), 1);
        reject(new TapwireError(`no pushed decision within ${timeoutMs} ms`, ErrorCode.DecisionTimeout));
      }, timeoutMs);
      const waiter = (decision: Decision) => {
        clearTimeout(timer);
        resolve(decision);
      };
      this.pushedWaiters.push(waiter);
    });
  }

  private onPushed(reply: DecisionReply): void {
    const waiter = this.pushedWaiters.shift();
    if (waiter) return waiter(reply.decision);
    if (this.pushed.length >= (this.options.pushedMax ?? 64)) this.pushed.shift();
    this.pushed.push(reply.decision);
  }
}
