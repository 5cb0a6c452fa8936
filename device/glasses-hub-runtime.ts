import { assert } from "../core/assert.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { logger } from "../core/log.ts";
import type { Clock, Random, Timers } from "../core/sources.ts";
import type { GlassesHubOptions } from "./glasses/config.ts";
import { GlassesHub } from "./glasses/glasses-hub.ts";
import type { PurchaseOutcome } from "./glasses/outcome.ts";
import type { BiometricVerifier, GlassesPort, Pairing } from "./glasses/ports.ts";
import type { IntentParser } from "./intent/intent.ts";
import type { HubJournal } from "./journal/hub-journal.ts";
import { ClockWatch } from "./link/clock-watch.ts";
import { hubSending } from "./link/hub-sending.ts";
import type { Outbox } from "./link/outbox.ts";
import type { ResendConfig } from "./link/outbox-config.ts";
import type { RequestSealer } from "./link/sealer.ts";
import type { HubSigner, SettlementPort } from "./ports.ts";
import { crashOutside } from "../core/crash.ts";

const log = logger("tapwire:glasses-runtime");

export interface GlassesHubRuntimeDeps {
  glasses: GlassesPort;
  verifier: BiometricVerifier;
  parser: IntentParser;
  settlement: SettlementPort;
  signer: HubSigner;
  /** Opened by the caller; the runtime closes nothing it did not open. */
  journal: HubJournal;
  clock: Clock;
  timers: Timers;
  random: Random;
}

export type GlassesHubRuntimeOptions = Omit<GlassesHubOptions, "pairing"> & {
  /** The merchant the hub's own requests (reversals, status queries) name. */
  merchantId: string;
  resend?: Partial<ResendConfig>;
  /** A bug that stopped the machine; the default rethrows it outside so the process restarts (see TapHub). */
  onCrash?: (error: unknown) => void;
};

/** Outcome listeners at once, at most. */
export const outcomeListenersMax = 16;

/**
 * The glasses hub put together from its ports: the journal-backed outbox (for the hub's whole life: it sends,
 * resends and reverses whatever the journal holds, across pairings and restarts) and the purchase machine for
 * the current pairing. Pairing other glasses (or another owner) restarts the machine, so a purchase in progress
 * with the old pairing ends there and never completes with the new one; its journaled requests still settle.
 */
export class GlassesHubRuntime {
  private hub: GlassesHub | undefined;
  private outbox: Outbox | undefined;
  private sealer: RequestSealer | undefined;
  private unsubscribes: Array<() => void> = [];
  private readonly listeners = new Set<(outcome: PurchaseOutcome) => void>();

  constructor(
    private readonly deps: GlassesHubRuntimeDeps,
    private readonly options: GlassesHubRuntimeOptions,
  ) {}

  get started(): boolean {
    return this.hub !== undefined;
  }

  /** Takes over the journal: interrupted requests are resent or reversed from now on, paired or not. */
  open(): void {
    if (this.outbox) return;
    const { journal, signer, settlement, clock, timers, random } = this.deps;
    const { hubId, merchantId } = this.options;
    const requestTtlMs = this.options.requestTtlMs ?? 60_000;
    const { sealer, outbox } = hubSending({
      identity: { hubId, merchantId },
      journal,
      signer,
      settlement,
      clock,
      timers,
      random,
      clockWatch: new ClockWatch(clock),
      ...(this.options.resend ? { resend: this.options.resend } : {}),
      lifetimes: { requestTtlMs, reversalTtlMs: requestTtlMs },
    });
    outbox.start();
    this.sealer = sealer;
    this.outbox = outbox;
  }

  /** Starts the purchase machine for `pairing` (ConfigInvalid for a bad option or pairing). */
  start(pairing: Pairing): void {
    if (this.hub) throw new TapwireError("glasses hub runtime already started", ErrorCode.BusyAlready);
    this.open();
    const outbox = this.outbox;
    const sealer = this.sealer;
    assert(outbox !== undefined && sealer !== undefined, "opened without an outbox");
    const { glasses, verifier, parser, random, timers } = this.deps;
    const { resend: _resend, onCrash, merchantId: _merchantId, ...options } = this.options;
    const hub = new GlassesHub({ glasses, verifier, parser, sealer, outbox, random }, { ...options, pairing }, timers, onCrash ?? crashOutside);
    hub.start();
    this.hub = hub;
    this.unsubscribes = [
      hub.onOutcome((outcome) => this.listeners.forEach((listener) => listener(outcome))),
      outbox.onAnswer((answer) => hub.deliverDecision(answer.decision)),
    ];
    log.info({ glassesId: pairing.glassesId, ownerId: pairing.ownerId, walletId: pairing.walletId }, "glasses hub running");
  }

  /** Stops the current machine (ending any purchase in progress) and starts one for `pairing`. */
  restart(pairing: Pairing): void {
    this.stop();
    this.start(pairing);
  }

  /** Stops the purchase machine; the outbox goes on (close() stops it). */
  stop(): void {
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    this.hub?.stop();
    this.hub = undefined;
  }

  close(): void {
    this.stop();
    this.outbox?.stop();
    this.outbox = undefined;
    this.sealer = undefined;
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
