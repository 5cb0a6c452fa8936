import { SeededRandom } from "../../core/sources.ts";
import { SimWorld, type WorldHooks } from "../world/world.ts";
import type { RunEnd } from "../world/sim-loop.ts";
import { startFault } from "./faults.ts";
import { checkInvariants, violation, type Violation } from "./invariants.ts";
import { currency, drawScenario, faultsMaxDefault, hubsMaxDefault, type MandatePlan, type SalePlan, type Scenario } from "./scenario.ts";

/**
 * How long a healed world may take to settle everything. Generous on purpose: a hub that gave up reconnecting
 * rests failedCooldownMs (5 min), a refused reversal envelope is replaced with backoff up to a minute, offline
 * captures go one at a time. A world still busy after this is a finding.
 */
export const quiesceMsMax = 4 * 3_600_000;

export interface SeedResult {
  seed: number;
  /** SHA-256 of the whole trace: the same seed gives the same digest, byte for byte. */
  digest: string;
  violations: Violation[];
  /** How the settling run ended ("done" when the world quieted). */
  end: RunEnd;
  stats: { hubs: number; sales: number; faults: number; payments: number; traceLines: number; virtualMs: number };
  /** The trace's lines, when asked for (keepTrace). */
  trace: readonly string[];
}

export interface RunOptions {
  hubsMax?: number;
  faultsMax?: number;
  keepTrace?: boolean;
  hooks?: WorldHooks;
}

/** Draws the seed's scenario, plays it in a fresh world, heals, lets it settle and checks the money invariants. */
export async function runSeed(seed: number, options: RunOptions = {}): Promise<SeedResult> {
  const random = new SeededRandom(seed);
  const scenario = drawScenario(seed, random, { hubsMax: options.hubsMax ?? hubsMaxDefault, faultsMax: options.faultsMax ?? faultsMaxDefault });
  const world = await SimWorld.create(scenario.plan, { random, keepTrace: options.keepTrace ?? false, ...(options.hooks ? { hooks: options.hooks } : {}) });
  try {
    return await play(world, scenario);
  } finally {
    await world.close();
  }
}

async function play(world: SimWorld, scenario: Scenario): Promise<SeedResult> {
  const startMs = world.nowMs;
  for (const sale of scenario.sales) scheduleSale(world, sale);
  for (const mandate of scenario.mandates) scheduleMandate(world, mandate);
  for (const fault of scenario.faults) world.later(fault.atMs, () => startFault(world, fault));
  const played = await world.run(startMs + scenario.endMs);
  const violations = played === "livelock" || played === "steps" ? [violation("not-settled", `the scenario did not play out: ${played}`)] : [];
  await world.heal();
  const end = await world.run(world.nowMs + quiesceMsMax, () => world.quiescent());
  if (end !== "done") violations.push(violation("not-settled", `the world did not settle after healing: ${end}`));
  violations.push(...checkInvariants(world));
  const payments = traceLedger(world);
  return {
    seed: scenario.seed,
    digest: world.trace.digest(),
    violations,
    end,
    stats: {
      hubs: scenario.plan.hubs.length,
      sales: scenario.sales.length,
      faults: scenario.faults.length,
      payments,
      traceLines: world.trace.lineCount,
      virtualMs: world.nowMs - startMs,
    },
    trace: world.trace.lines,
  };
}

function scheduleSale(world: SimWorld, sale: SalePlan): void {
  const hub = world.hubs[sale.hubIndex]!;
  const wallet = world.wallets[sale.walletIndex]!;
  world.later(sale.atMs, () => {
    if (sale.pullAtApdu !== undefined) hub.chip.setFaults({ removeTargetAtApdu: sale.pullAtApdu });
    hub.setAmount(sale.amountMinor, currency, sale.mode);
  });
  if (sale.cancelAfterMs !== undefined) world.later(sale.atMs + sale.cancelAfterMs, () => hub.pressCancel());
  if (sale.tapAfterMs === undefined) return;
  const phone = sale.mode === "reader" ? wallet.hce : wallet.tagPhone;
  const tap = () => {
    // A cloned card replays the last cryptogram its phone made, if it made one.
    if (sale.replayCryptogram && sale.mode === "reader" && wallet.hce.atc > 1) wallet.hce.replayNextCryptogram();
    hub.placePhone(phone, `${wallet.walletId} ${sale.mode}${sale.replayCryptogram && sale.mode === "reader" ? " replaying" : ""}`);
  };
  const removedMs = sale.atMs + sale.tapAfterMs + sale.holdMs;
  world.later(sale.atMs + sale.tapAfterMs, tap);
  world.later(removedMs, () => hub.removePhone());
  if (sale.retapAfterMs === undefined) return;
  world.later(removedMs + sale.retapAfterMs, () => hub.placePhone(phone, `${wallet.walletId} ${sale.mode} again`));
  world.later(removedMs + sale.retapAfterMs + sale.holdMs, () => hub.removePhone());
}

function scheduleMandate(world: SimWorld, plan: MandatePlan): void {
  const agent = world.agents[plan.agentIndex]!;
  const wallet = world.wallets[plan.walletIndex]!;
  world.later(plan.grantAtMs, () => wallet.grant(agent.mandate(plan.terms, wallet.walletId)));
  for (const purchase of plan.purchases) world.later(purchase.atMs, () => agent.pay(plan.terms, purchase.amountMinor));
}

/** Every ledger posting goes into the trace, oldest first; returns how many payments the service holds. */
function traceLedger(world: SimWorld): number {
  const service = world.settlement.service;
  const transfers = service.ledger.transfers({ limit: 10_000 }).reverse();
  for (const t of transfers) world.trace.record("ledger", `${t.transferId} ${t.kind} ${t.reference} ${t.amountMinor} ${t.currency} ${t.debitAccountId}>${t.creditAccountId}`);
  const payments = world.plan.merchants.flatMap((merchant) => service.paymentsOf(merchant.merchantId));
  for (const p of payments) world.trace.record("payment", `${p.hubId} ${p.requestId} ${p.mode} ${p.amountMinor} ${p.status} ${p.walletId}`);
  const mandates = world.plan.wallets.flatMap((wallet) => service.mandatesOf(wallet.walletId));
  for (const m of mandates) world.trace.record("mandate", `${m.mandateId} ${m.status} spent ${m.spentMinor} of ${m.budgetMinor}`);
  return payments.length;
}
