import { createPublicKey, type KeyObject } from "node:crypto";
import type { EnrolmentBundle } from "../broker/enrolment.ts";
import type { DecisionReply, HubLink } from "../firmware-bridge/mqtt/hub-link.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { importPrivatePem, importPublicPem } from "../protocol/keys.ts";
import { sealAgentPayment, type AgentPayment, type Cart, type OpenMandate } from "../protocol/mandates.ts";
import { issueMandateRequest, verifyMandateGrant, type MandateGrant, type MandateRequest, type MandateTerms } from "../protocol/mandate-request.ts";
import type { Decision } from "../protocol/messages.ts";
import { systemClock, systemRandom, type Clock, type Random } from "../core/sources.ts";
import { clientLink } from "./client-link.ts";

/** The agent's enrolment bundle (its key included) and where the service's broker is. */
export interface AgentOptions {
  bundle: EnrolmentBundle;
  url: string;
  clock?: Clock;
  random?: Random;
  requestLifetimeMs?: number;
  /** How long start() waits for the link (default 5 s). */
  connectTimeoutMs?: number;
  /** How long one attempt waits for the service's decision (default 5 s). */
  decisionTimeoutMs?: number;
  /** Outcomes pushed later (a step-up the person answered, an operator's review). */
  pushedMax?: number;
}

/** One purchase within an open mandate: which mandate, where, what, how much. */
export interface AgentPurchase {
  mandateId: string;
  merchantId: string;
  category: string;
  amountMinor: number;
  currency: string;
  cart: Cart;
  context?: Record<string, string>;
}

/** What became of an agent's payment: paid, refused (with its code), or held for the person or an operator. */
export type AgentPaymentResult =
  | { kind: "approved"; decision: Decision }
  | { kind: "declined"; code: number; reason: string; retryAfterMs: number | undefined; decision: Decision }
  | { kind: "held"; status: "step_up_required" | "human_review"; caseId: string | undefined; decision: Decision };

/** Classifies a decision into a typed result. */
export function agentPaymentResult(decision: Decision): AgentPaymentResult {
  if (decision.status === "approved") return { kind: "approved", decision };
  if (decision.status === "declined") return { kind: "declined", code: decision.code, reason: decision.reason, retryAfterMs: decision.retryAfterMs, decision };
  return { kind: "held", status: decision.status, caseId: decision.caseId, decision };
}

/** Link faults after which the same signed bytes are sent again: the service answers a resend with its stored decision. */
const resendCodes = new Set<number>([ErrorCode.DecisionTimeout, ErrorCode.Offline]);

/**
 * An AI agent (AP2/ACP's shape): holds its own key (the one the person named in the open mandate) and its own
 * client certificate, closes the person's open mandate into signed `agent_payment`s with no person present, pays
 * each exactly once (a retry resends the same bytes), and hears the later outcome of a payment held for the
 * person's step-up or an operator's review.
 */
export class Agent {
  private readonly key: KeyObject;
  private readonly link: HubLink;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly pushed: Decision[] = [];
  private readonly pushedWaiters: Array<{ wanted: (decision: Decision) => boolean; resolve: (decision: Decision) => void }> = [];

  constructor(private readonly options: AgentOptions) {
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

  /** Connects the agent's own mTLS link; resolves once connected. */
  async start(): Promise<void> {
    this.link.start();
    await this.link.waitConnected(this.options.connectTimeoutMs ?? 5_000);
  }

  /** Closes the link. */
  stop(): Promise<void> {
    return this.link.stop();
  }

  /**
   * Asks the person for an open mandate (AP2's signing request): the request, signed with the agent's key, as text
   * to show the person's wallet (a QR code, a link). `terms.mandateId` is the agent's choice; the person may grant
   * the terms, tighten them, or refuse.
   */
  requestMandate(purpose: string, terms: MandateTerms, lifetimeMs?: number): { text: string; request: MandateRequest } {
    return issueMandateRequest({
      agentId: this.agentId,
      agentKey: this.key,
      agentPublicKey: this.publicKey,
      purpose,
      terms,
      nowMs: this.clock.nowMs(),
      ...(lifetimeMs === undefined ? {} : { lifetimeMs }),
    });
  }

  /**
   * The person's answer as their wallet hands it back: checks that the service registered this mandate for this
   * agent's key and returns the terms granted, which are what `pay` must stay within (typed errors otherwise).
   */
  acceptGrant(grant: MandateGrant): OpenMandate {
    return verifyMandateGrant(grant, {
      agentId: this.agentId,
      agentPublicKey: this.publicKey,
      servicePublicKey: importPublicPem(this.options.bundle.servicePublicKeyPem),
    });
  }

  /** Signs a closed mandate for one purchase; send it with `send` (the same bytes twice are refused as a replay). */
  close(purchase: AgentPurchase): { requestId: string; bytes: Buffer } {
    return this.seal(this.closedBody(purchase));
  }

  /**
   * Closes the mandate for `purchase` and pays it: on a timeout or a dropped link the same body is signed and sent
   * again, up to `attempts` times in all. The service answers a body it has decided with that decision (the exact
   * bytes again would be refused as a replay), so the person is charged at most once. A payment held for step-up or
   * review comes back as `held`: wait for its outcome with `outcome`.
   */
  async pay(purchase: AgentPurchase, options: { attempts?: number } = {}): Promise<AgentPaymentResult> {
    const body = this.closedBody(purchase);
    const attempts = options.attempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        return agentPaymentResult(await this.send(this.seal(body)));
      } catch (error) {
        if (attempt >= attempts || !(error instanceof TapwireError) || !resendCodes.has(error.code)) throw error;
      }
    }
  }

  /** The final outcome of a held payment (pushed once the person or the operator answered); DecisionTimeout after timeoutMs. */
  async outcome(held: Extract<AgentPaymentResult, { kind: "held" }>, timeoutMs: number): Promise<AgentPaymentResult> {
    return agentPaymentResult(await this.pushedFor((decision) => decision.requestId === held.decision.requestId, timeoutMs));
  }

  /** Sends one signed closed mandate (from `close`) and resolves with the decision; sending the same bytes again gets the same decision, never a second charge. */
  async send(closed: { requestId: string; bytes: Buffer }): Promise<Decision> {
    return (await this.link.request(closed.bytes, closed.requestId, this.options.decisionTimeoutMs ?? 5_000)).decision;
  }

  /** The next outcome pushed for a held payment; DecisionTimeout after timeoutMs. */
  nextPushed(timeoutMs: number): Promise<Decision> {
    return this.pushedFor(() => true, timeoutMs);
  }

  private closedBody(purchase: AgentPurchase): AgentPayment {
    const iat = this.clock.nowMs();
    return {
      type: "agent_payment",
      v: 1,
      agentId: this.agentId,
      requestId: `${this.agentId}-${this.random.uuid()}`,
      iat,
      exp: iat + (this.options.requestLifetimeMs ?? 60_000),
      nonce: this.random.bytes(16),
      ...purchase,
    };
  }

  private seal(body: AgentPayment): { requestId: string; bytes: Buffer } {
    return { requestId: body.requestId, bytes: sealAgentPayment(body, this.key, this.publicKey) };
  }

  /** The first pushed outcome (kept or still to come) that `wanted` picks; the others stay for their own askers. */
  private pushedFor(wanted: (decision: Decision) => boolean, timeoutMs: number): Promise<Decision> {
    const index = this.pushed.findIndex(wanted);
    if (index >= 0) return Promise.resolve(this.pushed.splice(index, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        wanted,
        resolve: (decision: Decision) => {
          clearTimeout(timer);
          resolve(decision);
        },
      };
      const timer = setTimeout(() => {
        this.pushedWaiters.splice(this.pushedWaiters.indexOf(waiter), 1);
        reject(new TapwireError(`no pushed decision within ${timeoutMs} ms`, ErrorCode.DecisionTimeout));
      }, timeoutMs);
      this.pushedWaiters.push(waiter);
    });
  }

  private onPushed(reply: DecisionReply): void {
    const index = this.pushedWaiters.findIndex((waiter) => waiter.wanted(reply.decision));
    if (index >= 0) return this.pushedWaiters.splice(index, 1)[0]!.resolve(reply.decision);
    if (this.pushed.length >= (this.options.pushedMax ?? 64)) this.pushed.shift();
    this.pushed.push(reply.decision);
  }
}
