import { createActor, type Actor } from "xstate";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { Decision } from "../../protocol/messages.ts";
import type { Timers } from "../../core/sources.ts";
import { glassesHubConfig, type GlassesHubOptions } from "./config.ts";
import { createGlassesHubMachine, type GlassesHubMachine } from "./glasses-hub-machine.ts";
import type { PurchaseOutcome } from "./outcome.ts";
import type { GlassesHubDeps } from "./ports.ts";

/** Runs the glasses hub machine: constructor stores dependencies, start() validates and runs, stop() undoes it. */
export class GlassesHub {
  private actor: Actor<GlassesHubMachine> | undefined;
  private readonly listeners = new Set<(outcome: PurchaseOutcome) => void>();

  constructor(
    private readonly deps: GlassesHubDeps,
    private readonly options: GlassesHubOptions,
    private readonly timers: Timers,
    private readonly onCrash: (error: unknown) => void,
  ) {}

  start(): void {
    if (this.actor) throw new TapwireError("glasses hub already started", ErrorCode.BusyAlready);
    const config = glassesHubConfig(this.options);
    const actor = createActor(createGlassesHubMachine(this.deps), { input: { config }, clock: this.timers });
    actor.on("outcome", (event) => this.listeners.forEach((listener) => listener(event.outcome)));
    actor.subscribe({ error: (error) => this.onCrash(error) });
    this.actor = actor;
    actor.start();
  }

  stop(): void {
    this.actor?.stop();
    this.actor = undefined;
  }

  /** Every purchase's outcome, as it concludes. Returns the unsubscribe function. */
  onOutcome(listener: (outcome: PurchaseOutcome) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A decision that arrives on its own (a human review's result); ignored unless it answers this purchase. */
  deliverDecision(decision: Decision): void {
    if (!this.actor) throw new TapwireError("glasses hub not started", ErrorCode.HubNotReady);
    this.actor.send({ type: "settlement.decision", decision });
  }

  /** The machine's state value, for status pages and logs. */
  state(): unknown {
    return this.actor?.getSnapshot().value;
  }
}
