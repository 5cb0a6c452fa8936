import { createActor, type Actor, type Subscription } from "xstate";
import { ErrorCode, TapwireError, isTapwireError } from "../protocol/errors.ts";
import { logger } from "../core/log.ts";
import type { Clock, Random, Timers } from "../core/sources.ts";
import { defaultLinkConfig, linkMachine, validateLinkConfig, type LinkConfig, type LinkStateName } from "./link/link-machine.ts";
import type { HubJournal } from "./journal/hub-journal.ts";
import type { JournalSale } from "./journal/journal-records.ts";
import { ClockWatch } from "./link/clock-watch.ts";
import { hubSending } from "./link/hub-sending.ts";
import type { Outbox } from "./link/outbox.ts";
import type { ResendConfig } from "./link/outbox-config.ts";
import type { CodeScannerPort, HubSigner, IndicatorPort, LinkPort, SettlementPort, TapReaderPort } from "./ports.ts";
import { defaultTapTiming, validateTapConfig, type OfflineConfig, type TapTiming } from "./tap/tap-config.ts";
import { tapMachine, type TapMode } from "./tap/tap-machine.ts";
import { tapView, type TapView } from "./tap/tap-view.ts";
import { crashOutside } from "../core/crash.ts";
import type { CrashPoint } from "./crash.ts";

const log = logger("tapwire:tap-hub");

/** Everything a tap hub talks to, already adapted from drivers (firmware-bridge/) or simulated. */
export interface TapHubPorts {
  reader: TapReaderPort;
  indicator: IndicatorPort;
  settlement: SettlementPort;
  link: LinkPort;
  signer: HubSigner;
  /** Opened by the caller (a file on the hub, ":memory:" in a simulation); the hub closes nothing it did not open. */
  journal: HubJournal;
  clock: Clock;
  /** The machines' timers and the outbox's: the same object, so a virtual clock moves them all. */
  timers: Timers;
  random: Random;
  /** A payment-code scanner, when the hub has one. */
  scanner?: CodeScannerPort;
}

export interface TapHubOptions {
  hubId: string;
  merchantId: string;
  timing?: Partial<TapTiming>;
  /** Store and forward while the link is down; off when absent. */
  offline?: OfflineConfig;
  link?: Partial<LinkConfig>;
  resend?: Partial<ResendConfig>;
  /**
   * Called with a bug (an assertion, a non-TapwireError) that stopped a machine. The default rethrows it outside
   * the machine so the process crashes and its supervisor restarts it: the journal makes that safe.
   */
  onCrash?: (error: unknown) => void;
  /** Testing hook: see crash.ts. */
  crashPoint?: CrashPoint;
}

/** What a UI or a log shows: the hub's link state and the tap flow's view. Plain data. */
export interface TapHubView {
  hub: LinkStateName;
  /** The last connect failure's code (ClockWrong, ConnectRefused, Offline …) while not ready. */
  linkErrorCode: number | undefined;
  tap: TapView;
  /** The sale's request is waiting out a retry-after the service asked for (busy, retrying). */
  retrying: boolean;
  /** Offline captures the service has not settled yet. */
  offlineBacklog: { count: number; totalMinor: number };
}

interface Running {
  link: Actor<typeof linkMachine>;
  tap: Actor<typeof tapMachine>;
  outbox: Outbox;
}

/**
 * The tap hub composed from its ports: the link machine (connect, reconnect with backoff), the tap machine, and
 * between them and the settlement link the journal-backed outbox that alone sends and resends. No hardware here:
 * the caller hands in adapters. The constructor stores; start() recovers the journal and runs; stop() undoes it.
 */
export class TapHub {
  private running: Running | undefined;
  private subscriptions: Subscription[] = [];
  private readonly listeners = new Set<(view: TapHubView) => void>();

  constructor(
    private readonly ports: TapHubPorts,
    private readonly options: TapHubOptions,
  ) {}

  /** Validates the configuration (ConfigInvalid with every problem), takes over the journal and starts connecting. */
  start(): void {
    if (this.running) throw new TapwireError("tap hub already started", ErrorCode.BusyAlready);
    const { hubId, merchantId } = this.options;
    // Validated before any actor exists: a bad config throws here, it never reaches the crash path.
    const tapConfig = validateTapConfig({ hubId, merchantId, ...defaultTapTiming, ...this.options.timing, offline: this.options.offline });
    const linkConfig = validateLinkConfig({ ...defaultLinkConfig, ...this.options.link });
    const { indicator, settlement, journal, signer, clock, timers, random } = this.ports;
    const reader = withReadingPoint(this.ports.reader, this.options.crashPoint);
    const clockWatch = new ClockWatch(clock);
    const { sealer, outbox } = hubSending({
      identity: { hubId, merchantId },
      journal,
      signer,
      settlement,
      clock,
      timers,
      random,
      clockWatch,
      ...(this.options.resend ? { resend: this.options.resend } : {}),
      lifetimes: { requestTtlMs: tapConfig.requestTtlMs, reversalTtlMs: tapConfig.reversalTtlMs },
      ...(this.options.crashPoint ? { crashPoint: this.options.crashPoint } : {}),
    });
    const tap = createActor(tapMachine, {
      clock: timers,
      input: {
        ports: { reader, indicator, settlement, outbox, sealer, clockWatch, random, ...(this.ports.scanner ? { scanner: this.ports.scanner } : {}) },
        config: tapConfig,
        lastSale: journal.lastSale(),
      },
    });
    const link = createActor(linkMachine, {
      clock: timers,
      input: { link: this.ports.link, settlement, clockWatch, config: linkConfig },
    });
    const crash = this.options.onCrash ?? crashOutside;
    const notify = () => this.notify();
    const fail = (error: unknown) => {
      log.fatal({ err: error }, "tap hub machine stopped on a bug");
      crash(error);
    };
    this.subscriptions.push(tap.subscribe({ next: notify, error: fail }), link.subscribe({ next: notify, error: fail }));
    this.subscriptions.push(
      { unsubscribe: outbox.onSale(notify) },
      { unsubscribe: outbox.onSale(() => this.prune()) },
      { unsubscribe: outbox.onRetrying(notify) },
    );
    this.running = { link, tap, outbox };
    this.prune();
    outbox.start();
    tap.start();
    link.start();
    for (const actor of [tap, link]) {
      if (actor.getSnapshot().status !== "error") continue;
      const error = actor.getSnapshot().error;
      this.stop();
      throw error;
    }
  }

  /** Stops the machines and the outbox; the journal keeps what is under way for the next start. */
  stop(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    const running = this.running;
    this.running = undefined;
    running?.link.stop();
    running?.tap.stop();
    running?.outbox.stop();
  }

  get started(): boolean {
    return this.running !== undefined;
  }

  /** Starts a sale; the view's `tap.refusal` says why one was refused (BusyAlready, ReaderGone, OfflineUnavailable …). */
  setAmount(amountMinor: number, currency: string, mode: TapMode): void {
    this.current().tap.send({ type: "SET_AMOUNT", amountMinor, currency, mode });
  }

  /** The same as the cancel button. */
  cancel(): void {
    this.current().tap.send({ type: "CANCEL" });
  }

  /** Skips the cooldown of a hub that gave up reconnecting (state `failed`). */
  reconnect(): void {
    this.current().link.send({ type: "RECONNECT" });
  }

  /** What a UI shows now: link, sale, last decision, backlog. */
  view(): TapHubView {
    return this.viewOf(this.current());
  }

  /** Calls `listener` with the view after every change of the hub or the tap flow; returns the unsubscribe. */
  subscribe(listener: (view: TapHubView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls `listener` with each sale the moment its outcome is known; returns the unsubscribe. */
  onSale(listener: (sale: JournalSale) => void): () => void {
    return this.current().outbox.onSale(listener);
  }

  /** Keeps the journal within its bounds; a failure is logged and the hub goes on (the next sale tries again). */
  private prune(): void {
    try {
      this.ports.journal.prune();
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      log.error({ err: error, code: error.code }, "journal prune failed");
    }
  }

  private current(): Running {
    if (!this.running) throw new TapwireError("tap hub is not started", ErrorCode.HubNotReady);
    return this.running;
  }

  private notify(): void {
    if (!this.running || this.listeners.size === 0) return;
    const view = this.viewOf(this.running);
    for (const listener of [...this.listeners]) listener(view);
  }

  private viewOf(running: Running): TapHubView {
    const link = running.link.getSnapshot();
    const tap = running.tap.getSnapshot();
    const backlog = this.ports.journal.offlineBacklog();
    const request = tap.context.request;
    return {
      hub: link.value as LinkStateName,
      linkErrorCode: link.context.lastErrorCode,
      tap: tapView(tap),
      retrying: request !== undefined && running.outbox.isRetrying(request.requestId),
      offlineBacklog: { count: backlog.count, totalMinor: backlog.totalMinor },
    };
  }
}

/** The card read is over, nothing sealed yet: the "reading" step of the crash hook. */
function withReadingPoint(reader: TapReaderPort, crashPoint: CrashPoint | undefined): TapReaderPort {
  if (crashPoint === undefined) return reader;
  return {
    readCard: async (input) => {
      const credential = await reader.readCard(input);
      crashPoint("reading");
      return credential;
    },
    presentOffer: (input) => reader.presentOffer(input),
    get present() {
      return reader.present;
    },
    onPresence: (listener) => reader.onPresence(listener),
  };
}
