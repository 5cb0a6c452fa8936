import { assert } from "../../core/assert.ts";
import { isTapwireError } from "../../protocol/errors.ts";
import type { KeyPair } from "../../protocol/keys.ts";
import { agentKeyDer, sealAgentPayment, sealOpenMandate, type OpenMandate } from "../../protocol/mandates.ts";
import { protocolVersion, type Decision } from "../../protocol/messages.ts";
import type { Clock, Random } from "../../core/sources.ts";
import { SimClient, type SimClientDeps } from "./sim-client.ts";
import type { Trace } from "./trace.ts";

/** How long an agent or a wallet waits for one answer, and how often it sends the same bytes again. */
export const answerTimeoutMs = 10_000;
export const sendsMax = 3;
/** How long a granted mandate runs. */
const mandateLifetimeMs = 24 * 3_600_000;
const category = "groceries";

export interface MandateTerms {
  mandateId: string;
  merchantId: string;
  budgetMinor: number;
  perPaymentMaxMinor: number;
  currency: string;
  /** Payments above this wait for the person's signed approval (step-up); none when absent. */
  stepUpAboveMinor?: number;
}

/** What the agent says about one purchase beyond its amount (the cart's summary, risk context such as `ambiguous`). */
export interface PurchaseDetails {
  summary?: string;
  context?: Record<string, string>;
}

/** A closed mandate: one signed agent_payment, kept so the same bytes can be sent again. */
export interface SignedPayment {
  requestId: string;
  bytes: Buffer;
}

/** Hears an outcome pushed later for one of the agent's held payments. */
export type PushedListener = (decision: Decision) => void;

/** Pushed-outcome listeners at once. */
export const agentListenersMax = 8;

export interface SimAgentDeps extends Omit<SimClientDeps, "principal"> {
  agentId: string;
  keys: KeyPair;
  clock: Clock;
  random: Random;
  trace: Trace;
}

/**
 * An AI agent of a world, as sdk/agent.ts's Agent is over MQTT: it closes its mandate into signed
 * agent_payments with no person present and sends each over its own link, sending the same bytes again when no
 * answer comes (the service answers a resend with its stored decision, so a retry never pays twice). Outcomes
 * of held payments (a person's step-up, an operator's review) are pushed to it later.
 */
export class SimAgent {
  private readonly client: SimClient;
  private readonly listeners = new Set<PushedListener>();

  constructor(private readonly deps: SimAgentDeps) {
    this.client = new SimClient({ ...deps, principal: { kind: "agent", id: deps.agentId }, onUnrequested: (decision) => this.pushed(decision) });
  }

  get agentId(): string {
    return this.deps.agentId;
  }

  async pay(terms: MandateTerms, amountMinor: number, details: PurchaseDetails = {}): Promise<void> {
    await this.send(this.sign(terms, amountMinor, details));
  }

  /** Closes the mandate into one signed payment, without sending it. */
  sign(terms: MandateTerms, amountMinor: number, details: PurchaseDetails = {}): SignedPayment {
    const iat = this.deps.clock.nowMs();
    const requestId = `${this.deps.agentId}-${this.deps.random.uuid()}`;
    const bytes = sealAgentPayment(
      {
        type: "agent_payment",
        v: protocolVersion,
        agentId: this.deps.agentId,
        mandateId: terms.mandateId,
        requestId,
        merchantId: terms.merchantId,
        category,
        amountMinor,
        currency: terms.currency,
        cart: { summary: details.summary ?? "restock" },
        ...(details.context ? { context: details.context } : {}),
        iat,
        exp: iat + 60_000,
        nonce: this.deps.random.bytes(16),
      },
      this.deps.keys.privateKey,
      this.deps.keys.publicKey,
    );
    return { requestId, bytes };
  }

  /** Sends signed bytes (again, for a replay) until answered; resolves with the answer (undefined: none after sendsMax). */
  send(payment: SignedPayment): Promise<Decision | undefined> {
    return sendUntilAnswered(this.client, payment.bytes, payment.requestId, this.deps.trace, `agent ${this.deps.agentId}`);
  }

  onPushed(listener: PushedListener): () => void {
    assert(this.listeners.size < agentListenersMax, `at most ${agentListenersMax} pushed-outcome listeners`);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The open mandate a person's wallet signs for this agent. */
  mandate(terms: MandateTerms, walletId: string): OpenMandate {
    const nowMs = this.deps.clock.nowMs();
    return {
      type: "open_mandate",
      v: protocolVersion,
      mandateId: terms.mandateId,
      walletId,
      agentId: this.deps.agentId,
      agentKey: agentKeyDer(this.deps.keys.publicKey),
      perPaymentMaxMinor: terms.perPaymentMaxMinor,
      budgetMinor: terms.budgetMinor,
      currency: terms.currency,
      allowedMerchants: [terms.merchantId],
      allowedCategories: [category],
      ...(terms.stepUpAboveMinor === undefined ? {} : { stepUpAboveMinor: terms.stepUpAboveMinor }),
      notBefore: nowMs - 1_000,
      expiresAt: nowMs + mandateLifetimeMs,
      iat: nowMs,
    };
  }

  close(): void {
    this.client.close();
  }

  private pushed(decision: Decision): void {
    this.deps.trace.record(`agent ${this.deps.agentId}`, `${decision.requestId} pushed ${decision.status} ${decision.code}`);
    for (const listener of [...this.listeners]) listener(decision);
  }
}

/** The wallet grants the mandate over its own link. */
export function grantMandate(client: SimClient, mandate: OpenMandate, walletKeys: KeyPair, trace: Trace): Promise<Decision | undefined> {
  const bytes = sealOpenMandate(mandate, walletKeys.privateKey, walletKeys.publicKey);
  return sendUntilAnswered(client, bytes, mandate.mandateId, trace, `wallet ${mandate.walletId}`);
}

async function sendUntilAnswered(client: SimClient, bytes: Buffer, requestId: string, trace: Trace, source: string): Promise<Decision | undefined> {
  for (let send = 1; send <= sendsMax; send++) {
    try {
      const decision = await client.request(bytes, requestId, answerTimeoutMs);
      trace.record(source, `${requestId} ${decision.status} ${decision.code}`);
      return decision;
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      trace.record(source, `${requestId} unanswered E${error.code} (send ${send})`);
    }
  }
  return undefined;
}
