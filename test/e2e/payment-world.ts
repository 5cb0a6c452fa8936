import { createPrivateKey, type KeyObject } from "node:crypto";
import { expect } from "vitest";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import type { DecisionReply, HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { topicFor } from "../../protocol/topics.ts";
import { HubRequestSigner, type SignedRequest } from "../../simulator/hub-client/request-signer.ts";
import { SimHubClient, type Outcome } from "../../simulator/hub-client/sim-hub-client.ts";
import { SimWallet } from "../../simulator/hub-client/sim-wallet.ts";
import type { TestStack } from "./stack.ts";

/** Decisions nobody's request() was waiting for: answers to raw publishes, duplicates. */
export class DecisionInbox {
  static readonly repliesMax = 1_000;
  private readonly replies: DecisionReply[] = [];
  private readonly waiters = new Set<() => void>();

  readonly record = (reply: DecisionReply): void => {
    if (this.replies.length >= DecisionInbox.repliesMax) this.replies.shift();
    this.replies.push(reply);
    for (const wake of [...this.waiters]) wake();
  };

  /** Takes `count` decisions matching the predicate, oldest first; rejects after timeoutMs. */
  take(predicate: (reply: DecisionReply) => boolean, count: number, timeoutMs = 5_000): Promise<DecisionReply[]> {
    const taken: DecisionReply[] = [];
    const collect = (): boolean => {
      for (let index = 0; index < this.replies.length && taken.length < count; ) {
        if (predicate(this.replies[index]!)) taken.push(...this.replies.splice(index, 1));
        else index += 1;
      }
      return taken.length === count;
    };
    if (collect()) return Promise.resolve(taken);
    return new Promise((resolve, reject) => {
      const wake = () => {
        if (!collect()) return;
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(taken);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`${taken.length} of ${count} decisions within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(wake);
    });
  }

  async next(predicate: (reply: DecisionReply) => boolean, timeoutMs = 5_000): Promise<DecisionReply> {
    return (await this.take(predicate, 1, timeoutMs))[0]!;
  }

  /** Decisions received and not taken. */
  get size(): number {
    return this.replies.length;
  }
}

/** A connected hub: its link, the signer holding its seq, and a client that retries with the same bytes. */
export interface WorldHub {
  hubId: string;
  bundle: EnrolmentBundle;
  key: KeyObject;
  link: HubLink;
  signer: HubRequestSigner;
  client: SimHubClient;
  inbox: DecisionInbox;
}

export interface LedgerSnapshot {
  transfers: number;
  balances: Record<string, number>;
}

const accounts = ["wallet:w1", "wallet:w2", "merchant:m1"] as const;
export const richFundMinor = 1_000_000;
export const poorFundMinor = 500;
export const perPaymentMaxMinor = 50_000;

/**
 * What every end-to-end scenario starts from, on any broker: merchant m1 (EUR); hubs h1 and h2 connected,
 * h3 connected (to be revoked at the broker), h4 enrolled only (to be revoked inside the service); wallet w1
 * with plenty of money and w2 with 500 minor units.
 */
export class PaymentWorld {
  private constructor(
    readonly stack: TestStack,
    readonly hubs: ReadonlyMap<string, WorldHub>,
    readonly h4: { bundle: EnrolmentBundle; signer: HubRequestSigner },
    readonly w1: SimWallet,
    readonly w2: SimWallet,
  ) {}

  static async create(stack: TestStack): Promise<PaymentWorld> {
    const { node } = stack;
    node.registry.enrollMerchant({ merchantId: "m1", currency: "EUR", displayName: "Corner Café" });
    const w1 = await PaymentWorld.wallet(stack, "w1", richFundMinor);
    const w2 = await PaymentWorld.wallet(stack, "w2", poorFundMinor);
    const hubs = new Map<string, WorldHub>();
    for (const hubId of ["h1", "h2", "h3"]) hubs.set(hubId, await PaymentWorld.connectHub(stack, hubId));
    const h4Bundle = await node.enrollHub({ hubId: "h4", merchantId: "m1" });
    const h4 = { bundle: h4Bundle, signer: new HubRequestSigner({ hubId: "h4", merchantId: "m1", privateKey: createPrivateKey(h4Bundle.keyPem!) }) };
    return new PaymentWorld(stack, hubs, h4, w1, w2);
  }

  private static async wallet(stack: TestStack, walletId: string, fundMinor: number): Promise<SimWallet> {
    const bundle = await stack.node.enrollWallet({ walletId, currency: "EUR", perPaymentMaxMinor });
    stack.node.registry.fundWallet(walletId, fundMinor);
    return new SimWallet({ walletId, currency: "EUR", privateKey: createPrivateKey(bundle.keyPem!) });
  }

  private static async connectHub(stack: TestStack, hubId: string): Promise<WorldHub> {
    const bundle = await stack.node.enrollHub({ hubId, merchantId: "m1" });
    const inbox = new DecisionInbox();
    const link = await stack.connect(bundle, {
      onUnmatchedDecision: inbox.record,
      reconnectDelayMsMin: 20,
      reconnectDelayMsMax: 200,
      reconnectAttemptsMax: 50,
    });
    const key = createPrivateKey(bundle.keyPem!);
    const signer = new HubRequestSigner({ hubId, merchantId: "m1", privateKey: key });
    const client = new SimHubClient({ transport: link, inFlightMax: 4, decisionTimeoutMs: 2_000, attemptsMax: 20, retryDelayMsMin: 20, retryDelayMsMax: 200 });
    return { hubId, bundle, key, link, signer, client, inbox };
  }

  hub(hubId: string): WorldHub {
    const hub = this.hubs.get(hubId);
    if (!hub) throw new Error(`no hub ${hubId} in this world`);
    return hub;
  }

  /** Signs a payment on the hub and sends it through the hub client (retrying with the same bytes). */
  pay(hubId: string, amountMinor: number, wallet: SimWallet = this.w1): Promise<Outcome> {
    const hub = this.hub(hubId);
    return hub.client.submit(hub.signer.payment(wallet, amountMinor));
  }

  /** Sends these exact bytes once as the hub's request and waits for the decision on its requestId. */
  send(hubId: string, request: Pick<SignedRequest, "bytes" | "requestId">): Promise<DecisionReply> {
    return this.hub(hubId).link.request(request.bytes, request.requestId, 5_000);
  }

  /** Publishes bytes on the hub's own request topic, outside HubLink's request bookkeeping. */
  publishOwn(hubId: string, bytes: Buffer): Promise<void> {
    return this.hub(hubId).link.publishRaw(topicFor("hub", hubId, "req"), bytes, { qos: 1 });
  }

  snapshot(): LedgerSnapshot {
    const ledger = this.stack.node.service.ledger;
    return { transfers: ledger.transferCount(), balances: Object.fromEntries(accounts.map((id) => [id, ledger.balanceOf(id)])) };
  }

  /** No transfer, no balance change, no payment record for these request ids; the books still prove. */
  expectNothingPosted(before: LedgerSnapshot, hubId: string, requestIds: readonly string[]): void {
    expect(this.snapshot()).toEqual(before);
    for (const requestId of requestIds) expect(this.stack.node.service.findPayment(hubId, requestId)).toBeUndefined();
    this.stack.node.service.ledger.checkInvariants();
  }

  /** The next honest payment from h1 is approved and posted: the refusal before it left the service serving. */
  async expectServing(): Promise<void> {
    const before = this.snapshot();
    const outcome = await this.pay("h1", 100);
    expect(outcome.decision.status).toBe("approved");
    expect(this.snapshot().transfers).toBe(before.transfers + 1);
    expect(this.stack.node.service.findPayment("h1", outcome.requestId)?.amountMinor).toBe(100);
  }

  async stop(): Promise<void> {
    for (const hub of this.hubs.values()) hub.client.stop();
    await this.stack.stop();
  }
}
