import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import type { LinkConfig } from "../../device/link/link-machine.ts";
import type { ResendConfig } from "../../device/link/outbox-config.ts";
import type { TapTiming } from "../../device/tap/tap-config.ts";
import type { TapHubView } from "../../device/tap-hub.ts";
import { SimulatedTapHub, type SimulatedTapHubOptions } from "../../simulator/scenarios/tap/simulated-tap-hub.ts";
import { TestStack } from "../e2e/stack.ts";
import { TcpFaultProxy } from "./tcp-fault-proxy.ts";

/**
 * These suites run the whole hub on real timers (real sockets, real broker), so the waits a customer sees are
 * shortened to keep a fault test within seconds. Every lifetime and limit the service checks (request and
 * reversal lifetimes, clock skew, outbox and journal bounds) stays at its production default: that is what
 * the service must accept.
 */
export const fastTiming: Partial<TapTiming> = {
  tapTimeoutMs: 1_500,
  decisionTimeoutMs: 1_000,
  resultDisplayMs: 300,
};

/** Reconnects and resends within the same seconds, for the same reason. */
export const fastLink: Partial<LinkConfig> = {
  connectTimeoutMs: 2_000,
  reconnectBackoffBaseMs: 50,
  reconnectBackoffMaxMs: 400,
  reconnectAttemptsMax: 50,
  failedCooldownMs: 5_000,
};
export const fastResend: Partial<ResendConfig> = { attemptTimeoutMs: 300, resendBackoffMaxMs: 1_000 };

/**
 * How long a test waits for a state the real hub reaches in well under a second: bounded, but with room for a CI
 * machine running other suites (4 s was seen exceeded at a load average of 8, a false failure).
 */
export const waitMs = 10_000;
export const funded = 100_000;

export interface Rig {
  stack: TestStack;
  hub: SimulatedTapHub;
  bundles: { hub: EnrolmentBundle; wallet: EnrolmentBundle };
  /** Between the hub and the broker, when asked for. */
  proxy: TcpFaultProxy | undefined;
  merchantBalance(): number;
  walletBalance(): number;
  close(): Promise<void>;
}

export interface RigOptions {
  fundedMinor?: number;
  viaProxy?: boolean;
  /** Point the hub here instead of at the broker (a dead port). */
  brokerUrl?: string;
  overrides?: Partial<SimulatedTapHubOptions>;
}

/** A real settlement stack (merchant m1, hub h1, wallet w1) and a simulated hub on it, started and ready. */
export async function startRig(options: RigOptions = {}): Promise<Rig> {
  const stack = await TestStack.start();
  const workDir = mkdtempSync(join(tmpdir(), "tapwire-tap-hub-"));
  const bundles = await stack.enrolDefaults(options.fundedMinor ?? funded);
  const proxy = options.viaProxy ? await TcpFaultProxy.start(Number(new URL(stack.node.url).port)) : undefined;
  const hub = new SimulatedTapHub({
    brokerUrl: options.brokerUrl ?? proxy?.url ?? stack.node.url,
    hub: bundles.hub,
    wallet: bundles.wallet,
    merchantId: "m1",
    journalFile: join(workDir, "journal.sqlite"),
    timing: fastTiming,
    link: fastLink,
    resend: fastResend,
    ...options.overrides,
  });
  const ledger = () => stack.node.service.ledger;
  const rig: Rig = {
    stack,
    hub,
    bundles,
    proxy,
    merchantBalance: () => ledger().balanceOf(merchantAccountId("m1")),
    walletBalance: () => ledger().balanceOf(walletAccountId("w1")),
    close: async () => {
      await rig.hub.stop();
      await proxy?.close();
      await stack.stop();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
  try {
    await hub.start();
  } catch (error) {
    await rig.close();
    throw error;
  }
  return rig;
}

export function ready(rig: Rig): Promise<TapHubView> {
  return rig.hub.waitFor((view) => view.hub === "ready" && view.tap.online && view.tap.state === "idle", waitMs);
}

export function inState(rig: Rig, state: TapHubView["tap"]["state"]): Promise<TapHubView> {
  return rig.hub.waitFor((view) => view.tap.state === state, waitMs);
}

/** Records every tap state the hub passes through, in order, without repeats. */
export function recordStates(rig: Rig): string[] {
  const states: string[] = [];
  rig.hub.on("state", (view) => {
    if (states.at(-1) !== view.tap.state) states.push(view.tap.state);
  });
  return states;
}

/** Polls a condition the ledger or a device answers (no event to wait on); bounded by timeoutMs. */
export async function until(condition: () => boolean, timeoutMs = waitMs): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadlineMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
