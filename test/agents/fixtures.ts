import type { KeyObject } from "node:crypto";
import { sealMessage } from "../../protocol/envelope.ts";
import { generateP256, publicKeyPem, type KeyPair } from "../../protocol/keys.ts";
import { agentKeyDer, sealAgentPayment, sealOpenMandate, type AgentPayment, type MandateRevoke, type OpenMandate } from "../../protocol/mandates.ts";
import { protocolVersion, type Decision } from "../../protocol/messages.ts";
import type { DisputeOpen, StepUpAnswer, WalletStepUpApproval } from "../../protocol/review.ts";
import type { Clock, Random } from "../../core/sources.ts";
import type { Outbound } from "../../broker/settlement/settlement-service.ts";
import { SettlementFixture, requestLifetimeMsDefault, type FixtureOptions, type SignedMessage, type TestWallet } from "../settlement/fixtures.ts";

/**
 * Agent payments on top of the settlement fixture: agent `a1` enrolled with its own closing key, builders
 * for open mandates (signed by a wallet), closed mandates (signed by the agent), step-up answers and
 * disputes, and helpers that pick the decision each principal receives.
 */
export const dayMs = 86_400_000;

export class TestAgent {
  private requestCount = 0;

  constructor(
    readonly agentId: string,
    readonly keys: KeyPair,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {}

  nextRequestId(): string {
    this.requestCount += 1;
    return `${this.agentId}-p${this.requestCount}`;
  }

  payment(mandateId: string, amountMinor: number, overrides: Partial<AgentPayment> = {}): SignedMessage<AgentPayment> {
    const iat = this.clock.nowMs();
    const body: AgentPayment = {
      type: "agent_payment",
      v: protocolVersion,
      agentId: this.agentId,
      mandateId,
      requestId: this.nextRequestId(),
      merchantId: "m1",
      category: "groceries",
      amountMinor,
      currency: "EUR",
      cart: { summary: "2 × oat milk", items: [{ productId: "oat-1l", name: "Oat milk 1 l", quantity: 2, unitAmountMinor: Math.max(1, Math.floor(amountMinor / 2)) }] },
      context: { utterance: "order more oat milk", product: "Oat milk 1 l" },
      iat,
      exp: iat + requestLifetimeMsDefault,
      nonce: new Uint8Array(this.random.bytes(16)),
      ...overrides,
    };
    return { body, bytes: this.sign(body) };
  }

  /** The same body signed again: a deliberate retry by the key holder (ECDSA makes new bytes). */
  sign(body: AgentPayment, key: KeyObject = this.keys.privateKey): Buffer {
    return key === this.keys.privateKey ? sealAgentPayment(body, key, this.keys.publicKey) : sealMessage(body, key);
  }
}

export function mandateFor(wallet: TestWallet, agent: TestAgent, clock: Clock, overrides: Partial<OpenMandate> = {}): OpenMandate {
  const now = clock.nowMs();
  return {
    type: "open_mandate",
    v: protocolVersion,
    mandateId: "mandate-1",
    walletId: wallet.walletId,
    agentId: agent.agentId,
    agentKey: agentKeyDer(agent.keys.publicKey),
    perPaymentMaxMinor: 2_000,
    budgetMinor: 5_000,
    currency: "EUR",
    allowedMerchants: ["m1"],
    allowedCategories: ["groceries"],
    notBefore: now,
    expiresAt: now + 7 * dayMs,
    iat: now,
    ...overrides,
  };
}

export function signMandate(wallet: TestWallet, mandate: OpenMandate): Buffer {
  return sealOpenMandate(mandate, wallet.keys.privateKey, wallet.keys.publicKey);
}

export function stepUpAnswer(wallet: TestWallet, clock: Clock, caseId: string, answer: StepUpAnswer, requestId = `${caseId}-${answer}`): Buffer {
  const iat = clock.nowMs();
  const body: WalletStepUpApproval = { type: "step_up_approval", v: protocolVersion, walletId: wallet.walletId, requestId, caseId, answer, iat, exp: iat + 60_000 };
  return sealMessage(body, wallet.keys.privateKey);
}

export function disputeOpen(wallet: TestWallet, clock: Clock, paymentId: string, requestId = `dispute-${paymentId}`): Buffer {
  const iat = clock.nowMs();
  const body: DisputeOpen = { type: "dispute_open", v: protocolVersion, walletId: wallet.walletId, requestId, paymentId, reason: "never delivered", iat, exp: iat + 60_000 };
  return sealMessage(body, wallet.keys.privateKey);
}

export function mandateRevoke(wallet: TestWallet, clock: Clock, mandateId: string): Buffer {
  const iat = clock.nowMs();
  const body: MandateRevoke = { type: "mandate_revoke", v: protocolVersion, walletId: wallet.walletId, requestId: `revoke-${mandateId}`, mandateId, iat, exp: iat + 60_000 };
  return sealMessage(body, wallet.keys.privateKey);
}

export class AgentFixture {
  private constructor(
    readonly f: SettlementFixture,
    readonly agent: TestAgent,
  ) {}

  /** The settlement fixture (m1, h1, w1 funded with 10 000) plus agent a1. Mandates are registered by each test. */
  static async create(options: FixtureOptions = {}): Promise<AgentFixture> {
    const f = await SettlementFixture.create(options);
    const agent = AgentFixture.enrollAgent(f, "a1");
    return new AgentFixture(f, agent);
  }

  static enrollAgent(f: SettlementFixture, agentId: string): TestAgent {
    const identity = generateP256();
    f.service.agents.enrollAgent({ agentId, publicKeyPem: publicKeyPem(identity.publicKey), certificateSerial: `serial-${agentId}` });
    return new TestAgent(agentId, generateP256(), f.clock, f.random);
  }

  get service() {
    return this.f.service;
  }

  /** Registers a mandate from w1 (the wallet's own request) and returns the wallet's decision. */
  async registerMandate(overrides: Partial<OpenMandate> = {}, wallet: TestWallet = this.f.wallet, agent: TestAgent = this.agent): Promise<Decision> {
    return this.fromWallet(wallet, signMandate(wallet, mandateFor(wallet, agent, this.f.clock, overrides)));
  }

  async fromWallet(wallet: TestWallet, payload: Uint8Array): Promise<Decision> {
    return this.only(await this.f.send("wallet", wallet.walletId, payload), "wallet", wallet.walletId);
  }

  async fromAgent(payload: Uint8Array, agent: TestAgent = this.agent): Promise<Decision> {
    return this.only(await this.f.send("agent", agent.agentId, payload), "agent", agent.agentId);
  }

  /** All decisions in an answer addressed to one principal, verified and decoded. */
  decisionsTo(outbound: readonly Outbound[], kind: Outbound["kind"], id: string): Decision[] {
    return outbound.filter((o) => o.kind === kind && o.id === id).map((o) => this.f.open(o.payload));
  }

  only(outbound: readonly Outbound[], kind: Outbound["kind"], id: string): Decision {
    const mine = this.decisionsTo(outbound, kind, id);
    if (mine.length !== 1) throw new Error(`expected one decision for ${kind}/${id}, got ${mine.length}`);
    return mine[0]!;
  }

  /** Sum of agent payments posted under a mandate, from the payments table. */
  postedMinor(mandateId: string): number {
    return this.service.agentPaymentsOf(mandateId).reduce((sum, p) => sum + p.amountMinor, 0);
  }

  close(): Promise<void> {
    return this.f.close();
  }
}
