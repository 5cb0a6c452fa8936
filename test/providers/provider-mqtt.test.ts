import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { fxAccountId, merchantAccountId, providerAccountId } from "../../broker/ledger/ledger.ts";
import { systemClock, systemTimers } from "../../core/sources.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { ServedProvider } from "../../simulator/provider/served-provider.ts";
import { SimulatedTapHub } from "../../simulator/scenarios/tap/simulated-tap-hub.ts";
import { TestStack, startAndTap } from "../e2e/stack.ts";

const waitMs = 10_000;

describe("a tap by a traveller's JPY wallet at a EUR merchant, over the embedded broker", () => {
  let stack: TestStack | undefined;
  let hub: SimulatedTapHub | undefined;
  let provider: ServedProvider | undefined;
  afterEach(async () => {
    await hub?.stop();
    await provider?.stop();
    await stack?.stop();
    hub = undefined;
    provider = undefined;
    stack = undefined;
  });

  it("is authorized by the served provider (its own certificate, its own MQTT topics) and posted converted", async () => {
    stack = await TestStack.start();
    const { node } = stack;
    node.registry.enrollMerchant({ merchantId: "m1", currency: "EUR" });
    const hubBundle = await node.enrollHub({ hubId: "h1", merchantId: "m1" });
    const providerBundle = await node.enrollProvider({ providerId: "jp-pay", currency: "JPY" });
    const traveller = await node.enrollWallet({ walletId: "jp1", currency: "JPY", perPaymentMaxMinor: 50_000 });
    node.service.providers.assignWallet("jp1", "jp-pay");
    const nowMs = systemClock.nowMs();
    node.service.fxRates.load([{ base: "EUR", quote: "JPY", rate: "162.53", rounding: "half_even", source: "e2e", fromMs: nowMs - 60_000, toMs: nowMs + 3_600_000 }], nowMs);
    provider = new ServedProvider({
      providerId: "jp-pay",
      currency: "JPY",
      bundle: { caPem: providerBundle.caPem, certPem: providerBundle.certPem, keyPem: providerBundle.keyPem!, servicePublicKeyPem: providerBundle.servicePublicKeyPem },
      brokerUrl: node.url,
      protocolVersion: 4,
      balances: { jp1: 100_000 },
      clock: systemClock,
      timers: systemTimers,
    });
    await provider.start(waitMs);
    hub = new SimulatedTapHub({ brokerUrl: node.url, hub: hubBundle, wallet: traveller, merchantId: "m1", journalFile: join(stack.dataDir, "hub", "journal.sqlite") });
    const final = await startAndTap(hub, 1_250, "EUR", waitMs);

    expect(final.tap).toMatchObject({ state: "approved", lastDecisionCode: 0 });
    const { ledger } = node.service;
    expect([ledger.balanceOf(merchantAccountId("m1")), ledger.balanceOf(fxAccountId("EUR"))]).toEqual([1_250, -1_250]);
    expect([ledger.balanceOf(providerAccountId("jp-pay")), ledger.balanceOf(fxAccountId("JPY"))]).toEqual([-2_032, 2_032]);
    expect(ledger.checkInvariants().balanceSumMinorByCurrency).toMatchObject({ EUR: 0, JPY: 0 });
    expect(provider.provider.balanceOf("jp1")).toBe(100_000 - 2_032);
    expect(node.service.verifyEvidence().ok).toBe(true);
  });

  it("refuses a provider that publishes on another provider's topic, and a provider's subscription to another's requests", async () => {
    stack = await TestStack.start();
    const { node } = stack;
    const mine = await node.enrollProvider({ providerId: "p-a", currency: "JPY" });
    await node.enrollProvider({ providerId: "p-b", currency: "JPY" });
    const { MqttConnection } = await import("../../transport/mqtt-connection.ts");
    const connection = new MqttConnection({
      url: node.url,
      tls: { caPem: mine.caPem, certPem: mine.certPem, keyPem: mine.keyPem! },
      clientId: "providers/p-a",
      protocolVersion: 4,
      subscriptions: [{ filter: "tapwire/v1/providers/p-b/res", qos: 1 }],
      reconnectAttemptsMax: 1,
    });
    connection.start();
    try {
      await stack.refusals.next(ErrorCode.SubscribeNotAllowed);
      await connection.publish("tapwire/v1/providers/p-b/req", Buffer.from("x"), { qos: 1 }).catch(() => undefined);
      await stack.refusals.next(ErrorCode.PublishNotAllowed);
    } finally {
      await connection.stop();
    }
  });
});
