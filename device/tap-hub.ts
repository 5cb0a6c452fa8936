import { createActor, type Actor, type Subscription } from "xstate";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import type { Clock, Random } from "../protocol/sources.ts";
import { defaultHubConfig, hubMachine, type HubConfig, type HubSnapshot } from "./hub/hub-machine.ts";
import { Outbox } from "./link/outbox.ts";
import type { HubSigner, IndicatorPort, LinkPort, SeqStore, SettlementPort, TapReaderPort } from "./ports.ts";
import { defaultTapTiming, type TapTiming } from "./tap/tap-config.ts";
import { tapView, type TapMode, type TapSnapshot, type TapView } from "./tap/tap-machine.ts";

/** Everything a tap hub talks to, already adapted from drivers (firmware-bridge/) or simulated. */
export interface TapHubPorts {
  reader: TapReaderPort;
  indicator: IndicatorPort;
  settlement: SettlementPort;
  link: LinkPort;
  signer: HubSigner;
  seq: SeqStore;
  clock: Clock;
  random: Random;
}

export interface TapHubOptions {
  hubId: string;
  merchantId: string;
  timing?: Partial<TapTiming>;
  hub?: Partial<HubConfig>;
  /** Signed requests held without a decision; one more is refused (OutboxFull). Default 32. */
  outboxMax?: number;
}

export const outboxMaxDefault = 32;

export type HubStateName = "boot" | "connecting" | "ready" | "reconnecting" | "failed";

/** What a UI or a log shows: the hub's link state and the tap flow's view. Plain data. */
export interface TapHubView {
  hub: HubStateName;
  tap: TapView;
}

type HubActor = Actor<typeof hubMachine>;

/**
 * The tap hub composed from its ports: the hub machine (connect, reconnect with backoff) running the tap
 * machine, with the outbox between them and the settlement link. No hardware here: the caller hands in
 * adapters. The constructor stores; start() creates and runs the actors; stop() stops them.
 */
export class TapHub {
  private actor: HubActor | undefined;
  private subscriptions: Subscription[] = [];
  private readonly listeners = new Set<(view: TapHubView) => void>();

  constructor(
    private readonly ports: TapHubPorts,
    private readonly options: TapHubOptions,
  ) {}

  /** Validates the configuration (ConfigInvalid with every problem) and starts connecting. */
  start(): void {
    if (this.actor) throw new TapwireError("tap hub already started", ErrorCode.BusyAlready);
    const tapConfig = { hubId: this.options.hubId, merchantId: this.options.merchantId, ...defaultTapTiming, ...this.options.timing };
    const { settlement, clock } = this.ports;
    const outbox = new Outbox({
      settlement,
      clock,
      outboxMax: this.options.outboxMax ?? outboxMaxDefault,
      attemptTimeoutMs: tapConfig.decisionTimeoutMs,
    });
    const { reader, indicator, signer, seq, random } = this.ports;
    const actor = createActor(hubMachine, {
      input: {
        tap: { ports: { reader, indicator, settlement, outbox, signer, seq, clock, random }, config: tapConfig },
        link: this.ports.link,
        config: { ...defaultHubConfig, ...this.options.hub },
      },
    });
    this.actor = actor;
    const notify = () => this.notify();
    this.subscriptions.push(actor.subscribe({ next: notify, error: notify }));
    actor.start();
    // The tap machine is the hub's child for the hub's whole life; its changes do not change the hub's snapshot.
    const tap = actor.getSnapshot().children.tap;
    if (tap) this.subscriptions.push(tap.subscribe({ next: notify, error: notify }));
    if (actor.getSnapshot().status === "error") {
      const error = actor.getSnapshot().error;
      this.stop();
      throw error;
    }
  }

  stop(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    this.actor?.stop();
    this.actor = undefined;
  }

  get started(): boolean {
    return this.actor !== undefined;
  }

  /** Starts a sale; the view's `tap.refusal` says why one was refused (HubNotReady, InvalidMoney …). */
  setAmount(amountMinor: number, currency: string, mode: TapMode): void {
    this.running().send({ type: "SET_AMOUNT", amountMinor, currency, mode });
  }

  /** The same as the cancel button. */
  cancel(): void {
    this.running().send({ type: "CANCEL" });
  }

  /** Skips the cooldown of a hub that gave up reconnecting (state `failed`). */
  reconnect(): void {
    this.running().send({ type: "RECONNECT" });
  }

  view(): TapHubView {
    const snapshot = this.running().getSnapshot();
    return viewOf(snapshot);
  }

  /** Calls `listener` with the view after every change of the hub or the tap flow; returns the unsubscribe. */
  subscribe(listener: (view: TapHubView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private running(): HubActor {
    if (!this.actor) throw new TapwireError("tap hub is not started", ErrorCode.HubNotReady);
    return this.actor;
  }

  private notify(): void {
    if (!this.actor || this.listeners.size === 0) return;
    const view = viewOf(this.actor.getSnapshot());
    for (const listener of [...this.listeners]) listener(view);
  }
}

function viewOf(snapshot: HubSnapshot): TapHubView {
  const tap = snapshot.children.tap;
  if (!tap) throw new TapwireError("tap machine is not running", ErrorCode.HubNotReady);
  return { hub: snapshot.value as HubStateName, tap: tapView(tap.getSnapshot() as TapSnapshot) };
}
