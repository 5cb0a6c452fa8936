import type { GlassesHubTiming } from "../../device/glasses/config.ts";
import type { PurchaseOutcome } from "../../device/glasses/outcome.ts";
import type { Transfer } from "../../broker/ledger/ledger.ts";
import type { SettlementNodeOptions } from "../../broker/settlement-node.ts";
import type { ProductSighting, VirtualGlassesOptions } from "../../simulator/glasses/virtual-glasses.ts";
import { isTapwireError } from "../../protocol/errors.ts";
import { SimulatedGlassesHub } from "../../simulator/scenarios/glasses/simulated-glasses-hub.ts";
import { fastLinkOptions } from "../ble/fixtures.ts";
import { TestStack } from "../e2e/stack.ts";
import { TcpFaultProxy } from "../tap-hub/tcp-fault-proxy.ts";

/** Short waits so silence, timeouts and faults play out in well under a second with real timers. */
export const fastTiming: GlassesHubTiming = {
  offerTimeoutMs: 4_000,
  intentTimeoutMs: 400,
  biometricTimeoutMs: 500,
  decisionTimeoutMs: 2_000,
  reviewTimeoutMs: 800,
  resultDisplayMs: 30,
};

export const fundedMinor = 100_000;

export const espresso: ProductSighting = { productId: "sku-espresso", merchantId: "m1", name: "Espresso", amountMinor: 350, currency: "EUR" };

export interface GlassesWorld {
  stack: TestStack;
  hub: SimulatedGlassesHub;
  outcomes: PurchaseOutcome[];
  /** Between the hub and the broker, when asked for. */
  proxy: TcpFaultProxy | undefined;
}

export interface WorldOptions {
  glasses?: Partial<VirtualGlassesOptions>;
  /** Settlement service options (review policy: step-up and operator review thresholds). */
  settlement?: SettlementNodeOptions["settlement"];
  /** Put a fault proxy between the hub and the broker. */
  viaProxy?: boolean;
  /** Enrol the glasses with settlement against the owner's wallet (default true). */
  enrolGlasses?: boolean;
}

/** A real settlement stack (broker, service, SQLite), a simulated glasses hub on it, paired and ready. */
export async function startWorld(options: WorldOptions = {}): Promise<GlassesWorld> {
  const stack = await TestStack.start(options.settlement ? { settlement: options.settlement } : {});
  try {
    const { hub: hubBundle } = await stack.enrolDefaults(fundedMinor);
    const proxy = options.viaProxy ? await TcpFaultProxy.start(Number(new URL(stack.node.url).port)) : undefined;
    const hub = new SimulatedGlassesHub({
      settlementUrl: proxy?.url ?? stack.node.url,
      hubBundle,
      merchantId: "m1",
      owner: { ownerId: "owner-1", walletId: "w1", lang: "en" },
      ...(options.glasses ? { glasses: options.glasses } : {}),
      hub: { timing: fastTiming, requestTtlMs: 30_000 },
      link: fastLinkOptions,
      connectTimeoutMs: 5_000,
      pairTimeoutMs: 3_000,
    });
    const outcomes: PurchaseOutcome[] = [];
    hub.outcomes.on("outcome", (outcome) => outcomes.push(outcome));
    await hub.start();
    await hub.pair();
    if (options.enrolGlasses ?? true) {
      stack.node.enrollGlasses({ glassesId: hub.glasses.glassesId, walletId: "w1", publicKeyPem: hub.glassesPublicKeyPem, ownerId: hub.glasses.ownerId });
    }
    return { stack, hub, outcomes, proxy };
  } catch (error) {
    await stack.stop();
    throw error;
  }
}

export async function stopWorld(world: GlassesWorld | undefined): Promise<void> {
  if (!world) return;
  await world.hub.stop();
  await world.proxy?.close();
  await world.stack.stop();
}

/** The TapwireError code `work` throws (-1 for any other throw), or undefined when it returns. */
export function codeOf(work: () => unknown): number | undefined {
  try {
    work();
  } catch (error) {
    return isTapwireError(error) ? error.code : -1;
  }
  return undefined;
}

const pollMs = 5;

/** Polls `condition` every few ms (real timers: the BLE and MQTT I/O is real) until it holds or `timeoutMs` passes. */
export async function eventually(condition: () => boolean, timeoutMs = 3_000, what = "condition"): Promise<void> {
  for (let waitedMs = 0; !condition(); waitedMs += pollMs) {
    if (waitedMs >= timeoutMs) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

function stateText(world: GlassesWorld): string {
  return JSON.stringify(world.hub.assembly.runtime.state() ?? null);
}

/** Waits until the hub's machine is in a state whose JSON contains `fragment` (e.g. `"listening"`). */
export function reachState(world: GlassesWorld, fragment: string, timeoutMs = 3_000): Promise<void> {
  return eventually(() => stateText(world).includes(`"${fragment}"`), timeoutMs, `hub state ${fragment}`);
}

/**
 * The hub asks for the biometric and the glasses hold its challenge: the hub's machine enters "challenging" before
 * the challenge's frames have crossed the link, so answering on the state alone races the delivery.
 */
export async function challengeShown(world: GlassesWorld, timeoutMs = 3_000): Promise<void> {
  await reachState(world, "challenging", timeoutMs);
  await eventually(() => world.hub.glasses.lastChallenge !== undefined, timeoutMs, "challenge at the glasses");
}

/** Waits for outcome number `count` (1-based) and returns it. */
export const nothingPaid = { payments: 0, walletMinor: fundedMinor, merchantMinor: 0 };

export async function outcomeNumber(world: GlassesWorld, count: number, timeoutMs = 5_000): Promise<PurchaseOutcome> {
  await eventually(() => world.outcomes.length >= count, timeoutMs, `outcome #${count}`);
  return world.outcomes[count - 1]!;
}

/** The glasses see a product and the hub is listening for the answer to its offer. */
export async function offerShown(world: GlassesWorld, product: ProductSighting = espresso): Promise<void> {
  world.hub.glasses.seeProduct(product);
  await reachState(world, "listening");
}

/** Payments posted to the merchant (funding and reversals excluded). */
export function payments(world: GlassesWorld): Transfer[] {
  return world.stack.node.service.ledger.transfers({ accountId: "merchant:m1", limit: 100 }).filter((t) => t.kind === "payment");
}

/** What the ledger shows after checking its invariants (balanced books, no negative account). */
export function ledgerSummary(world: GlassesWorld): { payments: number; walletMinor: number; merchantMinor: number } {
  const ledger = world.stack.node.service.ledger;
  ledger.checkInvariants();
  return { payments: payments(world).length, walletMinor: ledger.balanceOf("wallet:w1"), merchantMinor: ledger.balanceOf("merchant:m1") };
}
