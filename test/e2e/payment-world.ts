import { createPrivateKey } from "node:crypto";
import { join } from "node:path";
import { expect } from "vitest";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import type { PaymentRecord } from "../../broker/settlement/settlement-store.ts";
import type { TapHubView } from "../../device/tap-hub.ts";
import type { DecisionReply } from "../../firmware-bridge/mqtt/hub-link.ts";
import { topicFor } from "../../protocol/topics.ts";
import { HceWallet } from "../../simulator/phones/hce-wallet.ts";
import type { HubRequestSigner, SignedRequest } from "../../simulator/hub-client/request-signer.ts";
import type { SimWallet } from "../../simulator/hub-client/sim-wallet.ts";
import { SimulatedTapHub } from "../../simulator/scenarios/tap/simulated-tap-hub.ts";
import { connectRawHub, rawSigner, rawWallet, type RawHub } from "./attacker.ts";
import type { TestStack } from "./stack.ts";

export interface LedgerSnapshot {
  transfers: number;
  balances: Record<string, number>;
}

/** How a sale on the real hub ended, as its tap flow shows it, and the payment the service posted for it, if any. */
export interface TapOutcome {
  status: string;
  code: number | undefined;
  payment: PaymentRecord | undefined;
}

export const tapHubId = "t1";
const accounts = ["wallet:w1", "wallet:w2", "wallet:w3", "merchant:m1"] as const;
export const richFundMinor = 1_000_000;
export const poorFundMinor = 500;
export const perPaymentMaxMinor = 50_000;
const tapWaitMs = 10_000;
const finalStates = new Set(["approved", "declined", "cancelled", "timedOut", "failed"]);

/**
 * What every end-to-end scenario starts from, on any broker: merchant m1 (EUR). The honest hub is t1, the real
 * device runtime (SimulatedTapHub: real drivers, machines, journal and outbox) taking taps from HCE phones of
 * wallet w3 (plenty of money) and w2 (500 minor units). Hubs h1–h3 are raw connections in an attacker's hands
 * (see attacker.ts), h3 to be revoked at the broker; h4 is enrolled only (to be revoked inside the service);
 * w1 is a wallet key the attacker mints cryptograms with.
 */
export class PaymentWorld {
  private constructor(
    readonly stack: TestStack,
    readonly tap: SimulatedTapHub,
    private readonly phones: { rich: HceWallet; poor: HceWallet },
    readonly hubs: ReadonlyMap<string, RawHub>,
    readonly h4: { bundle: EnrolmentBundle; signer: HubRequestSigner },
    readonly w1: SimWallet,
  ) {}

  static async create(stack: TestStack): Promise<PaymentWorld> {
    const { node } = stack;
    node.registry.enrollMerchant({ merchantId: "m1", currency: "EUR", displayName: "Corner Café" });
    const w1 = rawWallet(await PaymentWorld.wallet(stack, "w1", richFundMinor), "EUR");
    const poor = PaymentWorld.phone(await PaymentWorld.wallet(stack, "w2", poorFundMinor));
    const rich = PaymentWorld.phone(await PaymentWorld.wallet(stack, "w3", richFundMinor));
    const hubs = new Map<string, RawHub>();
    for (const hubId of ["h1", "h2", "h3"]) hubs.set(hubId, await connectRawHub(stack, hubId, "m1"));
    const h4Bundle = await node.enrollHub({ hubId: "h4", merchantId: "m1" });
    const tap = new SimulatedTapHub({
      brokerUrl: node.url,
      hub: await node.enrollHub({ hubId: tapHubId, merchantId: "m1" }),
      merchantId: "m1",
      journalFile: join(stack.dataDir, "hub-t1", "journal.sqlite"),
      protocolVersion: stack.protocolVersion,
      timing: { tapTimeoutMs: 5_000, decisionTimeoutMs: 2_000, resultDisplayMs: 100 },
    });
    await tap.start();
    await tap.waitFor((view) => view.hub === "ready" && view.tap.online, tapWaitMs);
    return new PaymentWorld(stack, tap, { rich, poor }, hubs, { bundle: h4Bundle, signer: rawSigner(h4Bundle, "m1") }, w1);
  }

  private static async wallet(stack: TestStack, walletId: string, fundMinor: number): Promise<EnrolmentBundle> {
    const bundle = await stack.node.enrollWallet({ walletId, currency: "EUR", perPaymentMaxMinor });
    stack.node.registry.fundWallet(walletId, fundMinor);
    return bundle;
  }

  private static phone(bundle: EnrolmentBundle): HceWallet {
    return new HceWallet({ walletId: bundle.principal.id, privateKey: createPrivateKey(bundle.keyPem!), atcStart: 1 });
  }

  hub(hubId: string): RawHub {
    const hub = this.hubs.get(hubId);
    if (!hub) throw new Error(`no hub ${hubId} in this world`);
    return hub;
  }

  /**
   * A customer taps a phone on the real hub t1 for this amount (reader mode), from the rich wallet w3 or the
   * poor w2; resolves with how the sale ended, once the hub is idle for the next one.
   */
  async tapPay(amountMinor: number, phone: "rich" | "poor" = "rich"): Promise<TapOutcome> {
    const { tap } = this;
    const posted = new Set(this.tapPayments().map((payment) => payment.paymentId));
    await tap.waitFor((view) => view.hub === "ready" && view.tap.state === "idle", tapWaitMs);
    tap.setAmount(amountMinor, "EUR", "reader");
    await tap.waitFor((view) => view.tap.state === "waitingForTap", tapWaitMs);
    tap.placePhone(this.phones[phone]);
    let final: TapHubView;
    try {
      final = await tap.waitFor((view) => finalStates.has(view.tap.state), tapWaitMs);
    } finally {
      tap.removePhone();
    }
    await tap.waitFor((view) => view.tap.state === "idle", tapWaitMs);
    const payments = this.tapPayments().filter((payment) => !posted.has(payment.paymentId));
    expect(payments.length).toBeLessThanOrEqual(1);
    return { status: final.tap.state, code: final.tap.lastDecisionCode, payment: payments[0] };
  }

  private tapPayments(): PaymentRecord[] {
    return this.stack.node.service.paymentsOf("m1").filter((payment) => payment.hubId === tapHubId);
  }

  /** A raw client's genuine payment from h1–h3, signed with the stolen key and sent once: no hub runtime behind it. */
  async pay(hubId: string, amountMinor: number, wallet: SimWallet = this.w1): Promise<DecisionReply & { requestId: string }> {
    const request = this.hub(hubId).signer.payment(wallet, amountMinor);
    return { ...(await this.send(hubId, request)), requestId: request.requestId };
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

  /** The next honest sale on the real hub is approved and posted: the refusal before it left the service serving. */
  async expectServing(): Promise<void> {
    const before = this.snapshot();
    const outcome = await this.tapPay(100);
    expect(outcome).toMatchObject({ status: "approved", code: 0, payment: { amountMinor: 100, status: "captured" } });
    expect(this.snapshot().transfers).toBe(before.transfers + 1);
  }

  async stop(): Promise<void> {
    await this.tap.stop();
    await this.stack.stop();
  }
}
