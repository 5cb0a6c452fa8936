import type { JournalSale } from "../../device/journal/hub-journal.ts";
import type { OfflineConfig } from "../../device/tap/tap-config.ts";
import type { PaymentRecord } from "../../broker/settlement/settlement-store.ts";
import { SeededRandom } from "../../core/sources.ts";
import { checkInvariants, type Violation } from "../../simulator/explore/invariants.ts";
import type { SimTapHub } from "../../simulator/world/sim-tap-hub.ts";
import { SimWorld, type WorldPlan } from "../../simulator/world/world.ts";

/** An hour of virtual time: more than any wait of the stack, so a world that does not settle in it is stuck. */
export const settleMs = 3_600_000;

export interface SmallWorldOptions {
  hubs?: number;
  offline?: OfflineConfig;
  reboots?: boolean;
  settlementKills?: boolean;
  fundMinor?: number;
  seed?: number;
}

/** Merchant m1, hubs h1… (ready and idle when this returns), wallet w1 funded, on a fresh virtual clock. */
export async function smallWorld(options: SmallWorldOptions = {}): Promise<SimWorld> {
  const plan: WorldPlan = {
    currency: "EUR",
    merchants: [{ merchantId: "m1", offlineLimits: options.offline?.limits }],
    hubs: Array.from({ length: options.hubs ?? 1 }, (_, index) => ({
      hubId: `h${index + 1}`,
      merchantId: "m1",
      offline: options.offline,
      reboots: options.reboots ?? false,
    })),
    wallets: [{ walletId: "w1", fundMinor: options.fundMinor ?? 100_000, perPaymentMaxMinor: 10_000 }],
    agents: [],
    settlementKills: options.settlementKills ?? false,
  };
  const world = await SimWorld.create(plan, { random: new SeededRandom(options.seed ?? 1), keepTrace: true });
  await world.run(world.nowMs + 5_000, () => world.hubs.every((hub) => hub.view().hub === "ready"));
  return world;
}

/** The cashier types an amount; `tapAfterMs` later the customer's phone is held to the reader (and stays). */
export async function startSale(world: SimWorld, hub: SimTapHub, amountMinor: number, mode: "reader" | "tag" = "reader", tapAfterMs = 1_000): Promise<void> {
  hub.setAmount(amountMinor, "EUR", mode);
  await world.runFor(tapAfterMs);
  const wallet = world.wallets[0]!;
  hub.placePhone(mode === "reader" ? wallet.hce : wallet.tagPhone, `w1 ${mode}`);
}

/** Runs until the hub shows `state` (or `withinMs` passes); returns whether it did. */
export async function until(world: SimWorld, done: () => boolean, withinMs = 60_000): Promise<boolean> {
  return (await world.run(world.nowMs + withinMs, done)) === "done";
}

export function inState(hub: SimTapHub, state: string): () => boolean {
  return () => hub.started && hub.view().tap.state === state;
}

/** Heals nothing: lets the world settle as it is (faults that end by themselves have ended). */
export async function settle(world: SimWorld): Promise<boolean> {
  return (await world.run(world.nowMs + settleMs, () => world.quiescent())) === "done";
}

export function payments(world: SimWorld): PaymentRecord[] {
  return world.settlement.service.paymentsOf("m1");
}

/** Every sale the hub opened, with its journal outcome. */
export function sales(hub: SimTapHub): JournalSale[] {
  return hub.saleIds.map((saleId) => hub.journal.sale(saleId)!);
}

export function invariantsBroken(world: SimWorld): Violation["invariant"][] {
  return checkInvariants(world).map((violation) => violation.invariant);
}

/** Trace lines containing `text`. */
export function traced(world: SimWorld, text: string): string[] {
  return world.trace.lines.filter((line) => line.includes(text));
}
