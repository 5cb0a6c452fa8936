import { crashSteps, type CrashStep } from "../../device/crash.ts";
import type { OfflineConfig } from "../../device/tap/tap-config.ts";
import type { OfflineLimits } from "../../protocol/contract.ts";
import type { Random } from "../../core/sources.ts";
import type { MandateTerms } from "../world/sim-agent.ts";
import type { WorldPlan } from "../world/world.ts";

/** One customer at one hub: the cashier types the amount, the customer taps (or not), maybe cancels or pulls away. */
export interface SalePlan {
  hubIndex: number;
  atMs: number;
  mode: "reader" | "tag";
  amountMinor: number;
  walletIndex: number;
  /** After the amount, when the phone enters the field; undefined: the customer never taps. */
  tapAfterMs: number | undefined;
  /** How long the phone stays in the field. */
  holdMs: number;
  /** After the amount, when the cashier presses cancel; undefined: never. */
  cancelAfterMs: number | undefined;
  /** The card leaves the field as the hub sends this APDU (a pull mid-read); undefined: never. */
  pullAtApdu: number | undefined;
  /** After the phone was taken away, the customer taps again this much later (a second read of the same offer). */
  retapAfterMs: number | undefined;
  /** A cloned card: the HCE phone answers with its previous cryptogram (the service must refuse the replay). */
  replayCryptogram: boolean;
}

/** A person grants an agent a mandate from their wallet; the agent then buys on its own, some of it in bursts. */
export interface MandatePlan {
  agentIndex: number;
  walletIndex: number;
  terms: MandateTerms;
  grantAtMs: number;
  purchases: Array<{ atMs: number; amountMinor: number }>;
}

export const faultKinds = [
  "drop",
  "duplicate",
  "stall",
  "cut",
  "refuse",
  "brokerRestart",
  "settlementKill",
  "readerGarbage",
  "readerHang",
  "readerGone",
  "clockSkew",
  "hubReboot",
  "powerCut",
] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface FaultPlan {
  kind: FaultKind;
  atMs: number;
  /** The hub it hits (network faults: the hub's connection, or a wallet's when walletIndex is set). */
  hubIndex: number;
  walletIndex: number | undefined;
  direction: "up" | "down";
  durationMs: number;
  count: number;
  skewMs: number;
  /** powerCut: the step of a sale at which the power goes. */
  step: CrashStep;
}

export interface Scenario {
  seed: number;
  plan: WorldPlan;
  sales: SalePlan[];
  faults: FaultPlan[];
  mandates: MandatePlan[];
  /** When the last sale and the last fault are over; the world is healed then. */
  endMs: number;
}

export const currency = "EUR";
export const hubsMaxDefault = 4;
export const faultsMaxDefault = 6;

/** How big a seed's world may be drawn. */
export interface ScenarioLimits {
  hubsMax: number;
  /** Faults per seed, at most. */
  faultsMax: number;
}

/** Integers, choices and coin flips from the seed's random, in the order they are asked for. */
export class Draw {
  constructor(private readonly random: Random) {}

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    const bytes = this.random.bytes(4);
    const value = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
    return min + (value % (max - min + 1));
  }

  chance(percent: number): boolean {
    return this.int(1, 100) <= percent;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
}

/**
 * Draws a world and what happens in it from the seed's random: a fleet of 1..hubsMax hubs under one or two
 * merchants (some selling offline, some merchants' floor limits below their hubs'), wallets well funded or short,
 * a few sales per hub in both modes, and faults of every kind at random moments.
 */
export function drawScenario(seed: number, random: Random, limits: ScenarioLimits = { hubsMax: hubsMaxDefault, faultsMax: faultsMaxDefault }): Scenario {
  const draw = new Draw(random);
  const merchantCount = draw.int(1, 2);
  const hubCount = draw.int(1, limits.hubsMax);
  const walletCount = draw.int(2, 5);
  const hubOffline = Array.from({ length: hubCount }, () => (draw.chance(50) ? offlineConfig(draw) : undefined));
  const merchants = Array.from({ length: merchantCount }, (_, index) => {
    const hubLimits = hubOffline.filter((config, hub) => config && hub % merchantCount === index).map((config) => config!.limits);
    return { merchantId: `m${index + 1}`, offlineLimits: hubLimits.length > 0 ? merchantLimits(draw, hubLimits[0]!) : undefined };
  });
  const wallets = Array.from({ length: walletCount }, (_, index) => ({
    walletId: `w${index + 1}`,
    fundMinor: draw.chance(70) ? draw.int(20_000, 200_000) : draw.int(0, 3_000),
    perPaymentMaxMinor: draw.int(2_000, 8_000),
  }));
  const sales = drawSales(draw, hubCount, walletCount);
  const mandates = draw.chance(40) ? [drawMandate(draw, walletCount)] : [];
  const lastSaleMs = Math.max(...sales.map((sale) => sale.atMs), ...mandates.flatMap((mandate) => mandate.purchases.map((purchase) => purchase.atMs)));
  const faults = Array.from({ length: draw.int(0, limits.faultsMax) }, () => drawFault(draw, sales, walletCount, lastSaleMs + 30_000));
  const endMs = Math.max(lastSaleMs + 60_000, ...faults.map((fault) => fault.atMs + fault.durationMs + 1_000));
  const plan: WorldPlan = {
    currency,
    merchants,
    hubs: hubOffline.map((offline, index) => ({
      hubId: `h${index + 1}`,
      merchantId: `m${(index % merchantCount) + 1}`,
      offline,
      reboots: faults.some((fault) => (fault.kind === "hubReboot" || fault.kind === "powerCut") && fault.hubIndex === index),
    })),
    wallets,
    agents: mandates.map((_, index) => ({ agentId: `a${index + 1}` })),
    settlementKills: faults.some((fault) => fault.kind === "settlementKill"),
  };
  return { seed, plan, sales, faults, mandates, endMs };
}

function offlineConfig(draw: Draw): OfflineConfig {
  const saleMaxMinor = draw.int(500, 5_000);
  return { currency, limits: { saleMaxMinor, totalMaxMinor: saleMaxMinor * draw.int(1, 4), countMax: draw.int(1, 5), ageMsMax: draw.int(60_000, 3_600_000) } };
}

/** Usually the hub's own limits; sometimes lower, so forwarded captures are refused (the merchant's loss). */
function merchantLimits(draw: Draw, hub: OfflineLimits): OfflineLimits {
  if (draw.chance(75)) return hub;
  return { ...hub, saleMaxMinor: Math.max(1, Math.floor(hub.saleMaxMinor / 2)) };
}

function drawSales(draw: Draw, hubCount: number, walletCount: number): SalePlan[] {
  const sales: SalePlan[] = [];
  for (let hubIndex = 0; hubIndex < hubCount; hubIndex++) {
    let atMs = draw.int(2_000, 10_000);
    for (let count = draw.int(2, 6); count > 0; count--) {
      sales.push({
        hubIndex,
        atMs,
        mode: draw.chance(65) ? "reader" : "tag",
        amountMinor: draw.int(100, 6_000),
        walletIndex: draw.int(0, walletCount - 1),
        tapAfterMs: draw.chance(85) ? draw.int(300, 8_000) : undefined,
        holdMs: draw.chance(15) ? draw.int(5, 150) : draw.int(500, 15_000),
        cancelAfterMs: draw.chance(10) ? draw.int(0, 20_000) : undefined,
        pullAtApdu: draw.chance(8) ? draw.int(1, 4) : undefined,
        retapAfterMs: draw.chance(10) ? draw.int(100, 5_000) : undefined,
        replayCryptogram: draw.chance(5),
      });
      atMs += draw.int(20_000, 60_000);
    }
  }
  return sales;
}

/** A budget the purchases can run past, a per-payment maximum some exceed (held for the person's step-up). */
function drawMandate(draw: Draw, walletCount: number): MandatePlan {
  const budgetMinor = draw.int(1_000, 10_000);
  const perPaymentMaxMinor = draw.int(Math.ceil(budgetMinor / 4), budgetMinor);
  const grantAtMs = draw.int(500, 5_000);
  let atMs = grantAtMs + draw.int(1_000, 5_000);
  const purchases = Array.from({ length: draw.int(2, 6) }, () => {
    atMs += draw.chance(30) ? draw.int(0, 50) : draw.int(1_000, 30_000);
    return { atMs, amountMinor: draw.int(100, Math.floor(perPaymentMaxMinor * 1.2)) };
  });
  const terms = { mandateId: `mandate-${draw.int(1, 1_000_000)}`, merchantId: "m1", budgetMinor, perPaymentMaxMinor, currency };
  return { agentIndex: 0, walletIndex: draw.int(0, walletCount - 1), terms, grantAtMs, purchases };
}

/** Most faults strike a sale as its phone is tapped, when a request is in flight; the rest strike at any time. */
function drawFault(draw: Draw, sales: readonly SalePlan[], walletCount: number, horizonMs: number): FaultPlan {
  const kind = draw.pick(faultKinds);
  const skewMagnitudeMs = draw.int(5_000, 600_000);
  const target = draw.pick(sales);
  const atMs = draw.chance(60) ? Math.max(0, target.atMs + (target.tapAfterMs ?? 0) + draw.int(-500, 3_000)) : draw.int(0, horizonMs);
  return {
    kind,
    atMs,
    hubIndex: target.hubIndex,
    walletIndex: draw.chance(20) ? draw.int(0, walletCount - 1) : undefined,
    direction: draw.chance(50) ? "up" : "down",
    durationMs: draw.int(1_000, kind === "clockSkew" ? 300_000 : 90_000),
    count: draw.int(1, 3),
    skewMs: draw.chance(50) ? skewMagnitudeMs : -skewMagnitudeMs,
    step: draw.pick(crashSteps),
  };
}
