import type { KeyObject } from "node:crypto";
import { createActor, type Actor } from "xstate";
import type { PurchaseOutcome } from "../../device/glasses/outcome.ts";
import { GlassesHubRuntime } from "../../device/glasses-hub-runtime.ts";
import type { Lang } from "../../device/intent/intent.ts";
import { TableIntentParser } from "../../device/intent/table-intent-parser.ts";
import { HubJournal } from "../../device/journal/hub-journal.ts";
import { ClockWatch } from "../../device/link/clock-watch.ts";
import { defaultLinkConfig, linkMachine } from "../../device/link/link-machine.ts";
import { LinkBiometricVerifier } from "../../firmware-bridge/adapters/glasses-biometric-verifier.ts";
import { GlassesLinkPort } from "../../firmware-bridge/adapters/glasses-port.ts";
import { KeyFileHubSigner } from "../../firmware-bridge/adapters/key-file-signer.ts";
import { GlassesLink } from "../../firmware-bridge/ble/glasses-link.ts";
import { MemoryPairingStore } from "../../firmware-bridge/ble/pairing-store.ts";
import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import type { Clock, Random, Timers } from "../../core/sources.ts";
import { VirtualBleBindings } from "../glasses/virtual-ble-bindings.ts";
import { VirtualGlasses } from "../glasses/virtual-glasses.ts";
import { createVirtualNoble } from "../glasses/virtual-noble.ts";
import { observed } from "./hub-observation.ts";
import { SimHubLink } from "./sim-hub-link.ts";
import type { SimNetwork } from "./sim-network.ts";
import type { Trace } from "./trace.ts";

/** How often the BLE link drops half-received messages: seldom, since each check is a step of the world. */
const expireIntervalMs = 1_000;
/** Outcome listeners at once. */
export const glassesListenersMax = 8;

export interface SimGlassesHubDeps {
  hubId: string;
  merchantId: string;
  hubKey: KeyObject;
  glassesId: string;
  /** Whom the glasses recognise, whose wallet pays, in which language they are first spoken to. */
  ownerId: string;
  walletId: string;
  lang: Lang;
  network: SimNetwork;
  servicePublicKey: KeyObject;
  clock: Clock;
  timers: Timers;
  random: Random;
  trace: Trace;
  /** A machine stopped on a bug: a finding. */
  onCrash: (hubId: string, error: unknown) => void;
}

interface Running {
  runtime: GlassesHubRuntime;
  link: GlassesLink;
  settlement: SimHubLink;
  linkActor: Actor<typeof linkMachine>;
  journal: HubJournal;
}

/**
 * A glasses hub of a world with its glasses: VirtualGlasses on virtual BLE bindings, real noble and the real
 * GlassesLink on them (its timers the world's), the real GlassesHubRuntime (purchase machine, journal-backed
 * outbox) and the link machine over a SimHubLink, as GlassesHubAssembly wires them over MQTT. It pairs with its
 * glasses when it starts; the scenario then acts as the wearer through `glasses`.
 */
export class SimGlassesHub {
  readonly bindings = new VirtualBleBindings();
  readonly glasses: VirtualGlasses;
  /** Every sale this hub opened, in order: what the invariants look up in its journal. */
  readonly saleIds: string[] = [];
  private readonly listeners = new Set<(outcome: PurchaseOutcome) => void>();
  private running: Running | undefined;

  constructor(private readonly deps: SimGlassesHubDeps) {
    this.glasses = new VirtualGlasses({ glassesId: deps.glassesId, ownerId: deps.ownerId, address: "f0:0d:0a:55:00:01", clock: deps.clock, random: deps.random });
    this.bindings.addPeripheral(this.glasses);
    this.glasses.on("received", (message) => {
      if (message.type === "say") deps.trace.record(deps.glassesId, `hears (${message.lang}) "${message.text}"`);
      if (message.type === "show_offer") deps.trace.record(deps.glassesId, `shows ${message.amountMinor} ${message.currency}`);
    });
  }

  get hubId(): string {
    return this.deps.hubId;
  }

  get started(): boolean {
    return this.running !== undefined;
  }

  get journal(): HubJournal {
    return this.current().journal;
  }

  /** Whether the hub's settlement link is up. */
  get online(): boolean {
    return this.running?.settlement.online ?? false;
  }

  /** The BLE link's state (`ready` once the glasses proved their pairing on this connection). */
  get bleState(): string {
    return this.running?.link.state ?? "stopped";
  }

  /** Starts the hub, connects it to the service, and pairs it with its glasses (in the background, as the world runs). */
  async start(): Promise<void> {
    if (this.running) throw new TapwireError("simulated glasses hub already started", ErrorCode.BusyAlready);
    const { deps } = this;
    const journal = HubJournal.open({ path: ":memory:", clock: deps.clock });
    const settlement = new SimHubLink({ network: deps.network, hubId: deps.hubId, servicePublicKey: deps.servicePublicKey });
    const link = new GlassesLink({ noble: createVirtualNoble(this.bindings), store: new MemoryPairingStore(), clock: deps.clock, timers: deps.timers, random: deps.random, expireIntervalMs });
    const runtime = new GlassesHubRuntime(
      {
        glasses: new GlassesLinkPort(link),
        verifier: new LinkBiometricVerifier(link),
        parser: new TableIntentParser(),
        settlement,
        signer: new KeyFileHubSigner(deps.hubKey),
        journal: observed(journal, (saleId) => this.saleIds.push(saleId)),
        clock: deps.clock,
        timers: deps.timers,
        random: deps.random,
      },
      { hubId: deps.hubId, merchantId: deps.merchantId, onCrash: (error) => deps.onCrash(deps.hubId, error) },
    );
    const linkActor = createActor(linkMachine, {
      clock: deps.timers,
      input: { link: settlement, settlement, clockWatch: new ClockWatch(deps.clock), config: defaultLinkConfig },
    });
    this.running = { runtime, link, settlement, linkActor, journal };
    link.on("state", (state) => deps.trace.record(deps.hubId, `ble ${state}`));
    runtime.onOutcome((outcome) => this.concluded(outcome));
    runtime.open();
    linkActor.start();
    deps.trace.record(deps.hubId, "started");
    await link.start();
    this.pair(link, runtime);
  }

  /** Stops the machines and the BLE link (the world runs its clock meanwhile: the link's teardown waits on it). */
  async stop(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    if (running === undefined) return;
    running.runtime.close();
    running.linkActor.stop();
    running.settlement.drop();
    await running.link.stop();
    running.journal.close();
  }

  /** Hears every purchase's outcome; returns the unsubscribe. */
  onOutcome(listener: (outcome: PurchaseOutcome) => void): () => void {
    assert(this.listeners.size < glassesListenersMax, `at most ${glassesListenersMax} outcome listeners`);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private pair(link: GlassesLink, runtime: GlassesHubRuntime): void {
    const { deps } = this;
    link.pair(this.glasses.showPairingCode()).then(
      (binding) => {
        deps.trace.record(deps.hubId, `paired with ${binding.glassesId}`);
        if (this.running?.runtime === runtime) runtime.start({ ownerId: deps.ownerId, glassesId: binding.glassesId, walletId: deps.walletId, lang: deps.lang });
      },
      (error: unknown) => deps.trace.record(deps.hubId, `pairing failed: ${isTapwireError(error) ? `E${error.code}` : String(error)}`),
    );
  }

  private concluded(outcome: PurchaseOutcome): void {
    this.deps.trace.record(this.deps.hubId, `outcome ${outcome.kind} ${outcome.code}`);
    for (const listener of [...this.listeners]) listener(outcome);
  }

  private current(): Running {
    if (!this.running) throw new TapwireError("simulated glasses hub is not running", ErrorCode.HubNotReady);
    return this.running;
  }
}
