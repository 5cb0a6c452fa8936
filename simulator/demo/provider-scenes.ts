import type { SettlementNode } from "../../broker/settlement-node.ts";
import { fxAccountId, providerAccountId } from "../../broker/ledger/ledger.ts";
import { systemClock, systemTimers } from "../../core/sources.ts";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { ServedProvider } from "../provider/served-provider.ts";
import { SimulatedTapHub } from "../scenarios/tap/simulated-tap-hub.ts";
import { money, type Narrator } from "./narrator.ts";
import { sale } from "./tap-scenes.ts";
import { join } from "node:path";

const waitMs = 10_000;
const providerId = "jp-pay";
const travellerId = "kenji";
const rate = "162.53";

export interface ProviderScenesInput {
  node: SettlementNode;
  merchantId: string;
  workDir: string;
  narrator: Narrator;
}

/**
 * A traveller pays the EUR merchant with his home wallet, held in JPY by another wallet operator (a provider with
 * its own certificate, simulated on the broker): the service locks a quote, asks the provider, and posts on its
 * signed approval; then the provider goes silent (a typed decline after the deadline, never a hanging hub) and
 * declines for funds.
 */
export async function runProviderScenes(input: ProviderScenesInput): Promise<void> {
  const { node, narrator, merchantId } = input;
  narrator.heading("Wallet provider and FX: a JPY wallet at another operator pays the EUR merchant");
  const providerBundle = await node.enrollProvider({ providerId, currency: "JPY" });
  const traveller = await node.enrollWallet({ walletId: travellerId, currency: "JPY", perPaymentMaxMinor: 100_000 });
  node.service.providers.assignWallet(travellerId, providerId);
  const hubBundle = await node.enrollHub({ hubId: "tap-hub-2", merchantId });
  const nowMs = systemClock.nowMs();
  node.service.fxRates.load([{ base: "EUR", quote: "JPY", rate, rounding: "half_even", source: "demo-feed", fromMs: nowMs - 60_000, toMs: nowMs + 3_600_000 }], nowMs);
  narrator.step(`enrolled provider ${providerId} (JPY, its own client certificate), its wallet ${travellerId}, hub tap-hub-2; rate EUR/JPY ${rate} (half-even) for the next hour`);
  const provider = new ServedProvider({
    providerId,
    currency: "JPY",
    bundle: { caPem: providerBundle.caPem, certPem: providerBundle.certPem, keyPem: providerBundle.keyPem!, servicePublicKeyPem: providerBundle.servicePublicKeyPem },
    brokerUrl: node.url,
    protocolVersion: 4,
    balances: { [travellerId]: 30_000 },
    clock: systemClock,
    timers: systemTimers,
  });
  await provider.start(waitMs);
  narrator.step(`provider ${providerId} on the broker, answering on its own topics; ${travellerId} holds ${money(30_000, "JPY")} there`);
  const hub = new SimulatedTapHub({ brokerUrl: node.url, hub: hubBundle, wallet: traveller, merchantId, journalFile: join(input.workDir, "tap-hub-2-journal.sqlite"), timing: { tapTimeoutMs: 5_000, resultDisplayMs: 400 } });
  await hub.start();
  try {
    await hub.waitFor((view) => view.hub === "ready" && view.tap.online && view.tap.state === "idle", waitMs);
    // One phone for every tap: its transaction counter moves on with each.
    const phone = hub.hcePhone();
    const ledger = node.service.ledger;
    const owedBefore = ledger.balanceOf(providerAccountId(providerId));
    await sale(hub, narrator, `${travellerId} taps his JPY wallet (provider ${providerId})`, 1_250, "reader", () => hub.placePhone(phone), { status: "approved", code: 0 });
    hub.removePhone();
    const paidYen = owedBefore - ledger.balanceOf(providerAccountId(providerId));
    narrator.step(`   quote locked at ${rate}: the merchant gets ${money(1_250, "EUR")}, ${providerId} approved and owes ${money(paidYen, "JPY")}; ${travellerId} has ${money(provider.provider.balanceOf(travellerId) ?? 0, "JPY")} left there`);
    narrator.step(`   FX positions: ${money(ledger.balanceOf(fxAccountId("JPY")), "JPY")} and ${money(ledger.balanceOf(fxAccountId("EUR")), "EUR")}: each currency still sums to zero`);

    provider.provider.behaviour = "silent";
    narrator.step(`-- provider ${providerId} stops answering: the service waits at most ${contract.providerAnswerMsMax} ms`);
    await sale(hub, narrator, "a tap while the provider is silent", 800, "reader", () => hub.placePhone(phone), { status: "declined", code: ErrorCode.ProviderTimeout });
    hub.removePhone();

    provider.provider.behaviour = "answer";
    await sale(hub, narrator, "more than the traveller holds at the provider", 25_000, "reader", () => hub.placePhone(phone), { status: "declined", code: ErrorCode.ProviderDeclined });
    hub.removePhone();
  } finally {
    await hub.stop();
    await provider.stop();
  }
}
