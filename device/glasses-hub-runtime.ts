import { assert } from "../protocol/assert.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { logger } from "../protocol/log.ts";
import type { Decision } from "../protocol/messages.ts";
import type { GlassesHubOptions } from "./glasses/config.ts";
import { GlassesHub } from "./glasses/glasses-hub.ts";
import type { PurchaseOutcome } from "./glasses/outcome.ts";
import type { GlassesHubDeps, Pairing } from "./glasses/ports.ts";

const log = logger("tapwire:glasses-runtime");

/** Where decisions nobody was waiting for come from (the settlement link's unmatched ones). */
export interface LateDecisionSource {
  subscribe(listener: (decision: Decision) => void): () => void;
}

export type GlassesHubRuntimeOptions = Omit<GlassesHubOptions, "pairing">;

/** Outcome listeners at once, at most. */
export const outcomeListenersMax = 16;

/**
 * The glasses hub put together from its ports: the purchase machine for the current pairing, with the
 * settlement link's late decisions routed to it. Pairing other glasses (or another owner) restarts the
 * machine, so a purchase in progress with the old pairing ends there and never completes with the new one.
 * Outcome listeners outlive those restarts.
 */
export class GlassesHubRuntime {
  private hub: GlassesHub | undefined;
  private unsubscribes: Array<() => void> = [];
  private readonly listeners = new Set<(outcome: PurchaseOutcome) => void>();

  constructor(
    private readonly deps: GlassesHubDeps,
    private readonly lateDecisions: LateDecisionSource,
    private readonly options: GlassesHubRuntimeOptions,
  ) {}

  get started(): boolean {
    return this.hub !== undefined;
  }

  /** Starts the purchase machine for `pairing` (ConfigInvalid for a bad option or pairing). */
  start(pairing: Pairing): void {
    if (this.hub) throw new TapwireError("glasses hub runtime already started", ErrorCode.BusyAlready);
    const hub = new GlassesHub(this.deps, { ...this.options, pairing });
    hub.start();
    this.hub = hub;
    this.unsubscribes = [
      hub.onOutcome((outcome) => this.listeners.forEach((listener) => listener(outcome))),
      this.lateDecisions.subscribe((decision) => hub.deliverDecision(decision)),
    ];
    log.info({ glassesId: pairing.glassesId, ownerId: pairing.ownerId, walletId: pairing.walletId }, "glasses hub running");
  }

  /** Stops the current machine (ending any purchase in progress) and starts one for `pairing`. */
  restart(pairing: Pairing): void {
    this.stop();
    this.start(pairing);
  }

  stop(): void {
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    this.hub?.stop();
    this.hub = undefined;
  }

  onOutcome(listener: (outcome: PurchaseOutcome) => void): () => void {
    assert(this.listeners.size < outcomeListenersMax, `at most ${outcomeListenersMax} outcome listeners`);
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The purchase machine's state value, for status pages and logs (undefined when stopped). */
  state(): unknown {
    return this.hub?.state();
  }
}
