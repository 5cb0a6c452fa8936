import type { Noble } from "@stoprocent/noble";
import { createActor, type Actor } from "xstate";
import type { PurchaseOutcome } from "../../device/glasses/outcome.ts";
import type { Pairing } from "../../device/glasses/ports.ts";
import { GlassesHubRuntime, type GlassesHubRuntimeOptions } from "../../device/glasses-hub-runtime.ts";
import type { IntentParser, Lang } from "../../device/intent/intent.ts";
import { TableIntentParser } from "../../device/intent/table-intent-parser.ts";
import type { HubJournal } from "../../device/journal/hub-journal.ts";
import { ClockWatch } from "../../device/link/clock-watch.ts";
import { defaultLinkConfig, linkMachine, type LinkConfig } from "../../device/link/link-machine.ts";
import type { HubSigner } from "../../device/ports.ts";
import { logger } from "../../core/log.ts";
import { systemClock, systemRandom, systemTimers, type Clock, type Random, type Timers } from "../../core/sources.ts";
import { GlassesLink } from "../ble/glasses-link.ts";
import type { GlassesLinkOptions } from "../ble/glasses-link-options.ts";
import type { GlassesBinding, PairingStore } from "../ble/pairing-store.ts";
import { LinkBiometricVerifier } from "./glasses-biometric-verifier.ts";
import { GlassesLinkPort } from "./glasses-port.ts";
import { MqttSettlementLink, type MqttSettlementLinkOptions } from "./mqtt-settlement-link.ts";

const log = logger("tapwire:glasses-hub");

/** Whose wallet the hub pays from: the person the paired glasses must recognise. */
export interface GlassesOwner {
  ownerId: string;
  walletId: string;
  /** The owner's language until they speak. */
  lang: Lang;
}

/** A glasses hub's BLE link, owner, identity, journal and timings. */
export interface GlassesHubAssemblyOptions {
  /** Built by the caller: `withBindings("hci")` on a Pi, noble over virtual bindings in the simulator. */
  noble: Noble;
  pairingStore: PairingStore;
  /** GlassesLink limits (timeouts, reconnect, frames…). */
  link?: Omit<GlassesLinkOptions, "noble" | "store" | "clock" | "random">;
  /** The settlement link: the same adapter, journal and outbox as a tap hub's. */
  settlement: MqttSettlementLinkOptions;
  /** Connect and reconnect with backoff, as a tap hub does. */
  linkConfig?: Partial<LinkConfig>;
  owner: GlassesOwner;
  hub: GlassesHubRuntimeOptions;
  signer: HubSigner;
  /** Opened by the caller; it outlives the hub (the caller closes it after stop()). */
  journal: HubJournal;
  parser?: IntentParser;
  clock?: Clock;
  timers?: Timers;
  random?: Random;
}

/**
 * A whole glasses hub from its drivers: the BLE link to the glasses, the MQTT link to settlement kept up by the
 * same link machine a tap hub runs, and the purchase machine between them over the journal-backed outbox.
 * Hardware-neutral: the caller hands in noble, the pairing store, the signer and the journal, so the CLI and the
 * simulator assemble the same thing.
 */
export class GlassesHubAssembly {
  readonly link: GlassesLink;
  readonly settlement: MqttSettlementLink;
  readonly runtime: GlassesHubRuntime;
  private linkActor: Actor<typeof linkMachine> | undefined;
  private readonly owner: GlassesOwner;
  private readonly clockWatch: ClockWatch;

  constructor(private readonly options: GlassesHubAssemblyOptions) {
    const clock = options.clock ?? systemClock;
    const timers = options.timers ?? systemTimers;
    const random = options.random ?? systemRandom;
    this.owner = options.owner;
    this.clockWatch = new ClockWatch(clock);
    this.link = new GlassesLink({ ...options.link, noble: options.noble, store: options.pairingStore, clock, random });
    this.settlement = new MqttSettlementLink(options.settlement);
    this.runtime = new GlassesHubRuntime(
      {
        glasses: new GlassesLinkPort(this.link),
        verifier: new LinkBiometricVerifier(this.link),
        parser: options.parser ?? new TableIntentParser(),
        settlement: this.settlement,
        signer: options.signer,
        journal: options.journal,
        clock,
        timers,
        random,
      },
      options.hub,
    );
  }

  /**
   * Takes over the journal (interrupted requests resume), connects to settlement in the background (with the link
   * machine's backoff), waits for the BLE adapter, and runs the hub for the stored pairing if there is one;
   * otherwise the hub waits for pair().
   */
  async start(): Promise<void> {
    this.runtime.open();
    const linkActor = createActor(linkMachine, {
      clock: this.options.timers ?? systemTimers,
      input: { link: this.settlement, settlement: this.settlement, clockWatch: this.clockWatch, config: { ...defaultLinkConfig, ...this.options.linkConfig } },
    });
    this.linkActor = linkActor;
    linkActor.start();
    try {
      await this.link.start();
    } catch (error) {
      await this.stop();
      throw error;
    }
    const binding = this.link.binding;
    if (binding !== undefined) this.runtime.start(this.pairingFor(binding));
  }

  /** Whether the settlement link is up (the adapter owns that fact). */
  get online(): boolean {
    return this.settlement.online;
  }

  /**
   * Pairs the glasses showing `code` and runs the hub for them. The previous glasses are forgotten at once
   * and the hub stops selling until the new pairing succeeds (a failed pairing leaves nothing paired).
   */
  async pair(code: string, options: { timeoutMs?: number } = {}): Promise<GlassesBinding> {
    this.runtime.stop();
    const binding = await this.link.pair(code, options);
    this.runtime.start(this.pairingFor(binding));
    return binding;
  }

  /** Calls `listener` with each purchase outcome; returns the unsubscribe. */
  onOutcome(listener: (outcome: PurchaseOutcome) => void): () => void {
    return this.runtime.onOutcome(listener);
  }

  /** Undoes start() in reverse. */
  async stop(): Promise<void> {
    this.runtime.close();
    this.linkActor?.stop();
    this.linkActor = undefined;
    await this.link.stop();
    await this.settlement.stop();
  }

  private pairingFor(binding: GlassesBinding): Pairing {
    if (binding.ownerId !== this.owner.ownerId) {
      // The hub still runs: every purchase then ends as wrong_person, on the glasses, before anything is signed.
      log.warn({ glassesId: binding.glassesId, glassesOwner: binding.ownerId, ownerId: this.owner.ownerId }, "paired glasses belong to another owner");
    }
    return { ownerId: this.owner.ownerId, glassesId: binding.glassesId, walletId: this.owner.walletId, lang: this.owner.lang };
  }
}
