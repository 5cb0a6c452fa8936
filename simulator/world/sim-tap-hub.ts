import type { KeyObject } from "node:crypto";
import type { CrashStep } from "../../device/crash.ts";
import { HubJournal, type JournalSale } from "../../device/journal/hub-journal.ts";
import type { BeepPattern, IndicatorPort, IndicatorState, LinkPort, SettlementPort } from "../../device/ports.ts";
import { defaultTapTiming, type OfflineConfig } from "../../device/tap/tap-config.ts";
import type { TapMode } from "../../device/tap/tap-machine.ts";
import { TapHub, type TapHubView } from "../../device/tap-hub.ts";
import type { SupervisedTapReader } from "../../firmware-bridge/adapters/supervised-tap-reader.ts";
import { KeyFileHubSigner } from "../../firmware-bridge/adapters/key-file-signer.ts";
import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { Clock, Random, Timers } from "../../core/sources.ts";
import type { FieldDevice } from "../pn532/field.ts";
import { HidScanner } from "../../firmware-bridge/adapters/hid-scanner.ts";
import { VirtualScanner } from "../hid/virtual-scanner.ts";
import { VirtualPn532, healthyPn532 } from "../pn532/virtual-pn532.ts";
import { MockSerialBinding } from "../serial/mock-binding.ts";
import { observed, viewLine } from "./hub-observation.ts";
import { SimHubLink } from "./sim-hub-link.ts";
import type { SimNetwork } from "./sim-network.ts";
import { readerPath, supervisedReader } from "./sim-reader.ts";
import type { Trace } from "./trace.ts";

/** The hub's link to the service as its ports see it; a test may wrap it to plant a bug. */
export type HubLinkPorts = SettlementPort & LinkPort;

/** A hub showed a customer "approved" (or "approved offline") for this sale, as its journal had it at that moment. */
export interface ShownApproval {
  hubId: string;
  /** The sale the panel spoke of (the live sale, or after a boot the journal's last sale); undefined: none, a finding. */
  saleId: string | undefined;
  /** The latest sale the hub opened: what a person at the counter takes any "approved" to be about. */
  counterSaleId: string | undefined;
  shown: "approved" | "approvedOffline";
  outcomeAtShow: JournalSale["outcome"] | undefined;
}

export interface SimTapHubDeps {
  hubId: string;
  merchantId: string;
  hubKey: KeyObject;
  /** ":memory:", or a file when the hub reboots (its journal must outlive the crash). */
  journalPath: string;
  offline: OfflineConfig | undefined;
  network: SimNetwork;
  servicePublicKey: KeyObject;
  /** The world's clock; the hub reads it through its own skew. */
  clock: Clock;
  timers: Timers;
  random: Random;
  trace: Trace;
  onShown: (approval: ShownApproval) => void;
  /** A machine stopped on a bug: a finding. */
  onCrash: (hubId: string, error: unknown) => void;
  wrapLink?: (link: SimHubLink) => HubLinkPorts;
}

/** Hears the panel: an LED state shown, or a beep; across reboots. */
export type PanelListener = (event: { led: IndicatorState } | { beep: BeepPattern }) => void;

/** Panel and view listeners at once, each. */
export const hubListenersMax = 8;

/** What one boot of the hub knows about its sales. */
interface Boot {
  journal: HubJournal;
  /** The sale this boot opened last: what a live "approved" is about. */
  openedSaleId: string | undefined;
}

interface Running {
  hub: TapHub;
  reader: SupervisedTapReader;
  scanner: HidScanner;
  link: SimHubLink;
  journal: HubJournal;
}

/**
 * One tap hub of a world: the real TapHub (machines, outbox, journal) over the real reader stack on a VirtualPn532
 * and a SimHubLink to the world's network, on the world's clock seen through the hub's own skew. The LEDs are an
 * IndicatorPort that writes to the trace (the Firmata panel runs johnny-five's own real timers, so it is left out).
 * A reboot stops the machines where they stand and starts new ones on the same journal file.
 */
export class SimTapHub {
  readonly chip = new VirtualPn532();
  readonly binding = new MockSerialBinding();
  /** The counter's QR scanner (keyboard mode), read by the real HID scanner driver. */
  readonly scanDevice = new VirtualScanner();
  /** How far this hub's clock is off the world's, in milliseconds (a clock-skew fault). */
  skewMs = 0;
  /** Every sale any boot of this hub opened, in order: what the invariants look up in its journal. */
  readonly saleIds: string[] = [];
  private readonly clock: Clock;
  private readonly cancelListeners = new Set<() => void>();
  private readonly panelListeners = new Set<PanelListener>();
  private readonly viewListeners = new Set<(view: TapHubView) => void>();
  private lastView = "";
  private running: Running | undefined;
  private powerCut: { step: CrashStep; cut: () => void } | undefined;

  constructor(private readonly deps: SimTapHubDeps) {
    this.clock = { nowMs: () => deps.clock.nowMs() + this.skewMs };
    this.binding.attach(readerPath, this.chip);
  }

  get hubId(): string {
    return this.deps.hubId;
  }

  get journal(): HubJournal {
    return this.current().journal;
  }

  get started(): boolean {
    return this.running !== undefined;
  }

  view(): TapHubView {
    return this.current().hub.view();
  }

  async start(): Promise<void> {
    if (this.running) throw new TapwireError("simulated hub already started", ErrorCode.BusyAlready);
    const { deps } = this;
    const journal = HubJournal.open({ path: deps.journalPath, clock: this.clock });
    const link = new SimHubLink({ network: deps.network, hubId: deps.hubId, servicePublicKey: deps.servicePublicKey });
    const reader = supervisedReader({ binding: this.binding, clock: this.clock, timers: deps.timers, random: deps.random, timing: defaultTapTiming });
    const scanner = new HidScanner({ open: async () => this.scanDevice.open(), mode: "keyboard", clock: this.clock, timers: deps.timers, random: deps.random });
    const boot: Boot = { journal, openedSaleId: undefined };
    const ports = deps.wrapLink ? deps.wrapLink(link) : link;
    const hub = new TapHub(
      {
        reader,
        indicator: this.indicator(boot),
        settlement: ports,
        link: ports,
        signer: new KeyFileHubSigner(deps.hubKey),
        journal: observed(journal, (saleId) => {
          boot.openedSaleId = saleId;
          this.saleIds.push(saleId);
        }),
        clock: this.clock,
        timers: deps.timers,
        random: deps.random,
        scanner,
      },
      {
        hubId: deps.hubId,
        merchantId: deps.merchantId,
        ...(deps.offline ? { offline: deps.offline } : {}),
        onCrash: (error) => deps.onCrash(deps.hubId, error),
        crashPoint: (step) => this.reached(step),
      },
    );
    this.running = { hub, reader, scanner, link, journal };
    hub.subscribe((view) => this.traceView(view));
    deps.trace.record(deps.hubId, "started");
    // The hub first, then the reader: a crash while the reader is still opening then finds a whole hub to stop.
    hub.start();
    await reader.start();
    await scanner.start();
  }

  /** The hub loses power: machines stop where they stand, the connection and the serial port just go. */
  async crash(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    if (running === undefined) return;
    this.deps.trace.record(this.deps.hubId, "crashed");
    running.hub.stop();
    running.link.drop();
    await running.reader.stop();
    await running.scanner.stop();
    running.journal.close();
  }

  /**
   * The power goes the next time a sale reaches `step` (device/crash.ts): at that instant the hub's connection
   * drops, so nothing more leaves it, and `cut` is called to stop it (at once, before any timer runs).
   */
  armPowerCut(step: CrashStep, cut: () => void): void {
    this.powerCut = { step, cut };
  }

  setAmount(amountMinor: number, currency: string, mode: TapMode): void {
    if (!this.running) return;
    this.deps.trace.record(this.deps.hubId, `amount ${amountMinor} ${currency} ${mode}`);
    this.running.hub.setAmount(amountMinor, currency, mode);
  }

  pressCancel(): void {
    if (!this.running) return;
    this.deps.trace.record(this.deps.hubId, "cancel pressed");
    for (const listener of [...this.cancelListeners]) listener();
  }

  placePhone(phone: FieldDevice, label: string): void {
    this.deps.trace.record(this.deps.hubId, `phone ${label} placed`);
    this.chip.placeInField(phone);
  }

  removePhone(): void {
    this.chip.removeFromField();
  }

  /** Someone holds a code (a phone's payment code, a product's barcode) to the counter's scanner. */
  scan(text: string, label: string): void {
    this.deps.trace.record(this.deps.hubId, `scanned ${label}`);
    this.scanDevice.scan(text);
  }

  /** Every fault of this hub over: its clock right, its chip well, its reader plugged in, no power cut waiting. */
  heal(): void {
    this.skewMs = 0;
    this.powerCut = undefined;
    this.chip.setFaults(healthyPn532);
    this.reattachReader();
    this.removePhone();
  }

  /** The reader's cable is pulled: its port goes, and it cannot be opened again until reattachReader(). */
  pullReader(): void {
    this.deps.trace.record(this.deps.hubId, "reader pulled");
    this.binding.detach(readerPath);
  }

  reattachReader(): void {
    this.binding.attach(readerPath, this.chip);
  }

  /** Hears every LED state and beep of every boot of this hub; returns the unsubscribe. */
  onPanel(listener: PanelListener): () => void {
    assert(this.panelListeners.size < hubListenersMax, `at most ${hubListenersMax} panel listeners`);
    this.panelListeners.add(listener);
    return () => this.panelListeners.delete(listener);
  }

  /** Hears every view of every boot of this hub; returns the unsubscribe. */
  onView(listener: (view: TapHubView) => void): () => void {
    assert(this.viewListeners.size < hubListenersMax, `at most ${hubListenersMax} view listeners`);
    this.viewListeners.add(listener);
    return () => this.viewListeners.delete(listener);
  }

  private reached(step: CrashStep): void {
    const powerCut = this.powerCut;
    if (powerCut?.step !== step || !this.running) return;
    this.powerCut = undefined;
    this.deps.trace.record(this.deps.hubId, `power cut at ${step}`);
    this.running.link.drop();
    powerCut.cut();
  }

  private current(): Running {
    if (!this.running) throw new TapwireError("simulated hub is not running", ErrorCode.HubNotReady);
    return this.running;
  }

  private traceView(view: TapHubView): void {
    for (const listener of [...this.viewListeners]) listener(view);
    const text = viewLine(view);
    if (text === this.lastView) return;
    this.lastView = text;
    this.deps.trace.record(this.deps.hubId, text);
  }

  private indicator(boot: Boot): IndicatorPort {
    const { hubId, trace } = this.deps;
    return {
      show: (state) => {
        trace.record(hubId, `led ${state}`);
        for (const listener of [...this.panelListeners]) listener({ led: state });
        if (state === "approved" || state === "approvedOffline") this.shown(boot, state);
      },
      beep: (pattern) => {
        trace.record(hubId, `beep ${pattern}`);
        for (const listener of [...this.panelListeners]) listener({ beep: pattern });
      },
      onCancel: (listener) => {
        this.cancelListeners.add(listener);
        return () => this.cancelListeners.delete(listener);
      },
    };
  }

  /** A live sale's "approved" is about the sale this boot opened; right after a boot, about the journal's last sale. */
  private shown(boot: Boot, shown: ShownApproval["shown"]): void {
    const sale = boot.openedSaleId === undefined ? boot.journal.lastSale() : boot.journal.sale(boot.openedSaleId);
    const counterSaleId = this.saleIds.at(-1);
    this.deps.onShown({ hubId: this.deps.hubId, saleId: sale?.saleId, counterSaleId, shown, outcomeAtShow: sale?.outcome });
  }
}
