import { setTimeout as sleep } from "node:timers/promises";
import { walletAccountId } from "../../broker/ledger/ledger.ts";
import { SimulatedGlassesHub } from "../scenarios/glasses/simulated-glasses-hub.ts";
import { SimulatedTapHub } from "../scenarios/tap/simulated-tap-hub.ts";
import { money } from "./narrator.ts";
import type { DemoWorld } from "./run-demo.ts";
import { tapHubJournalFile } from "./tap-scenes.ts";

const waitMs = 10_000;
const finalStates = ["approved", "declined", "cancelled", "timedOut", "failed"];

export interface KeepSellingOptions {
  /** Pause between two sales. */
  intervalMs: number;
  /** Bound on the sales, whatever happens to the stop signal (at 2 s apart: more than five hours). */
  salesMax: number;
  /** The wallet is topped up by `topUpMinor` whenever it holds less than this. */
  topUpBelowMinor: number;
  topUpMinor: number;
}

export const keepSellingDefaults: KeepSellingOptions = { intervalMs: 2_000, salesMax: 10_000, topUpBelowMinor: 1_000, topUpMinor: 10_000 };

/**
 * `tapwire demo --dashboard`: after the scenes, both hubs come back online and the tap hub goes on selling small
 * amounts to the same phone, slowly, so the dashboard has something live to show until `signal` aborts (Ctrl-C).
 * Resolves with the number of sales made.
 */
export async function keepSelling(world: DemoWorld, signal: AbortSignal, options: KeepSellingOptions = keepSellingDefaults): Promise<number> {
  const { node } = world;
  const tapHub = new SimulatedTapHub({
    brokerUrl: node.url,
    hub: world.tapHub,
    wallet: world.wallet,
    merchantId: world.merchantId,
    // The scenes' journal: the hub's sequence numbers go on from there (the service refuses a replayed one).
    journalFile: tapHubJournalFile(world.workDir),
    timing: { tapTimeoutMs: 5_000, resultDisplayMs: 400 },
  });
  const glassesHub = new SimulatedGlassesHub({ settlementUrl: node.url, hubBundle: world.glassesHub, merchantId: world.merchantId, owner: { ownerId: "alice", walletId: world.walletId, lang: "en" } });
  await tapHub.start();
  await glassesHub.start();
  let sales = 0;
  try {
    // One phone for the whole run, so its counter moves on (the scenes used ATCs from 1).
    tapHub.placePhone(tapHub.hcePhone(1_000));
    world.write(`both hubs online again; the tap hub sells every ${options.intervalMs} ms until Ctrl-C`);
    while (sales < options.salesMax && !signal.aborted) {
      if (node.service.ledger.balanceOf(walletAccountId(world.walletId)) < options.topUpBelowMinor) node.registry.fundWallet(world.walletId, options.topUpMinor);
      const amountMinor = 100 + ((sales * 137) % 900);
      await tapHub.waitFor((view) => view.tap.state === "idle", waitMs);
      tapHub.setAmount(amountMinor, "EUR", "reader");
      const final = await tapHub.waitFor((view) => finalStates.includes(view.tap.state), waitMs);
      sales += 1;
      world.write(`   sale ${sales}: ${money(amountMinor, "EUR")} ${final.tap.state}`);
      await sleep(options.intervalMs, undefined, { signal }).catch(() => undefined);
    }
  } finally {
    await glassesHub.stop();
    await tapHub.stop();
  }
  return sales;
}
