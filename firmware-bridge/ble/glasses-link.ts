import { EventEmitter } from "node:events";
import type { Characteristic, ConnectOptions, Noble, Peripheral } from "@stoprocent/noble";
import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError, asTapwireError } from "../../protocol/errors.ts";
import {
  decodeGlassesMessage,
  encodeGlassesMessage,
  glassesToHubSchema,
  hubToGlassesSchema,
  pairingCodePattern,
  publicKeyDer,
  verifyBiometricAssertion,
  verifyPairResponse,
  verifySessionClaim,
  type BatteryMessage,
  type BiometricAssertionMessage,
  type BiometricClaim,
  type GlassesLang,
  type GlassesToHub,
  type HubToGlasses,
  type ProductSeenMessage,
  type ShowOfferMessage,
  type UtteranceMessage,
} from "../../protocol/glasses.ts";
import { importPublicPem, publicKeyPem } from "../../protocol/keys.ts";
import { logger } from "../../core/log.ts";
import { assertNoProblems, rangeProblems, type Ranges } from "../../core/ranges.ts";
import { protocolVersion } from "../../protocol/messages.ts";
import { systemClock, systemRandom, systemTimers, type Clock, type Random, type Timers } from "../../core/sources.ts";
import {
  attMtuMax,
  attMtuMin,
  checkFrameLimits,
  defaultFrameLimits,
  FrameSequencer,
  Reassembler,
  type FrameLimits,
  type LinkEvent,
} from "./frames.ts";
import { glassesIdTag, glassesNotifyUuid, glassesServiceUuid, glassesWriteUuid, readAdvert, type GlassesAdvert } from "./gatt.ts";
import type { GlassesBinding, PairingStore } from "./pairing-store.ts";
import { abortReason, delay, every, withTimeout } from "./waits.ts";

const log = logger("tapwire:ble");

/** Every step of the link has its own limit, in milliseconds. */
export interface GlassesLinkTimeouts {
  /** For the adapter to report poweredOn. */
  poweredOnMs: number;
  /** For tapwire glasses (the paired ones, or any in pairing mode) to show up in a scan. */
  scanMs: number;
  connectMs: number;
  /** Service and characteristic discovery together. */
  discoverMs: number;
  subscribeMs: number;
  /** For the MTU exchange to be reported after connecting; the link then assumes 23. */
  mtuMs: number;
  /** For each frame written. */
  writeMs: number;
  /** From auth_challenge to a valid auth_response. */
  authMs: number;
  /** For a whole pair(code) call, scan included. */
  pairMs: number;
  /** For a disconnect to be confirmed while tearing a connection down. */
  disconnectMs: number;
  /** For scanning to stop. */
  scanStopMs: number;
}

export interface ReconnectPolicy {
  /** The first wait after a failed attempt or a dropped link; doubles on every further failure. */
  delayMsInitial: number;
  delayMsMax: number;
  /** Consecutive failed attempts before the link gives up (state "failed"; start() again to retry). */
  attemptsMax: number;
}

export interface GlassesLinkOptions {
  /**
   * A noble instance the caller built: `withBindings("hci", …)` on a Pi, or `new Noble(virtualBindings)` in
   * the simulator. The link never builds one from the default bindings, and never stops it.
   */
  noble: Noble;
  store: PairingStore;
  clock?: Clock;
  /** Every wait of the link (step timeouts, backoff, the pairing limit, the reassembly check); real timers by default. */
  timers?: Timers;
  random?: Random;
  timeouts?: Partial<GlassesLinkTimeouts>;
  reconnect?: Partial<ReconnectPolicy>;
  /** ATT MTU the hub asks for (hci bindings read it from the connect parameters). */
  mtuRequested?: number;
  frames?: Partial<FrameLimits>;
  /** Write frames without response (faster; the frame layer detects losses) or with response. */
  writeWithoutResponse?: boolean;
  /** Messages waiting to be written, at most. */
  sendQueueMax?: number;
  /** How often incomplete messages are checked against the reassembly timeout while connected. */
  expireIntervalMs?: number;
  /** Battery reports at or below this emit `lowBattery`. */
  batteryLowPercent?: number;
  /** How old a biometric assertion may be when verifyAssertion checks it. */
  assertionAgeMsMax?: number;
}

export const defaultGlassesLinkTimeouts: GlassesLinkTimeouts = {
  poweredOnMs: 10_000,
  scanMs: 15_000,
  connectMs: 10_000,
  discoverMs: 5_000,
  subscribeMs: 3_000,
  mtuMs: 1_000,
  writeMs: 3_000,
  authMs: 5_000,
  pairMs: 60_000,
  disconnectMs: 2_000,
  scanStopMs: 2_000,
};

export const defaultReconnectPolicy: ReconnectPolicy = { delayMsInitial: 500, delayMsMax: 30_000, attemptsMax: 10 };

export type GlassesLinkState =
  | "stopped"
  | "waitingForAdapter"
  | "unpaired"
  | "scanning"
  | "connecting"
  | "discovering"
  | "pairing"
  | "authenticating"
  | "ready"
  | "backoff"
  | "failed";

/** What paired glasses tell the hub once the link is authenticated. */
export type GlassesInbound = ProductSeenMessage | UtteranceMessage | BiometricAssertionMessage | BatteryMessage;

/** A frame-layer event other than a delivered message, or a message that did not parse. */
export type LinkFault =
  | Exclude<LinkEvent, { kind: "message" }>
  | { kind: "unreadable"; code: ErrorCode; reason: string; seq: number };

export interface Refusal {
  code: ErrorCode;
  reason: string;
  glassesId?: string;
}

export interface GlassesLinkEvents {
  state: [state: GlassesLinkState];
  message: [message: GlassesInbound];
  linkFault: [fault: LinkFault];
  refused: [refusal: Refusal];
  connected: [info: { glassesId: string; peripheralId: string; mtu: number }];
  disconnected: [info: { reason: string }];
  mtu: [mtu: number];
  reconnecting: [info: { attempt: number; delayMs: number; code: ErrorCode }];
  failed: [error: TapwireError];
  lowBattery: [percent: number];
}

interface Connection {
  peripheral: Peripheral;
  write: Characteristic;
  notify: Characteristic;
  mtu: number;
  sequencer: FrameSequencer;
  reassembler: Reassembler;
  signal: AbortSignal;
  authenticated: boolean;
  glassesId: string | undefined;
}

interface PairingRequest {
  code: string;
  resolve: (binding: GlassesBinding) => void;
  reject: (error: TapwireError) => void;
  timer: unknown;
}

type Waiter = { type: GlassesToHub["type"]; resolve: (message: GlassesToHub) => void };

/**
 * The hub's BLE link to one pair of smart glasses (the hub is the central). start() waits for the adapter
 * and keeps a connection to the paired glasses: scan for tapwire's service, connect, discover, subscribe,
 * learn the MTU, prove the glasses hold the paired key, then deliver their messages; a drop or a failed
 * step is retried with exponential backoff up to a maximum. pair(code) replaces the binding.
 */
export class GlassesLink extends EventEmitter<GlassesLinkEvents> {
  private readonly noble: Noble;
  private readonly store: PairingStore;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly random: Random;
  private readonly timeouts: GlassesLinkTimeouts;
  private readonly reconnect: ReconnectPolicy;
  private readonly frameLimits: FrameLimits;
  private readonly mtuRequested: number;
  private readonly writeWithoutResponse: boolean;
  private readonly sendQueueMax: number;
  private readonly expireIntervalMs: number;
  private readonly batteryLowPercent: number;
  private readonly assertionAgeMsMax: number;

  private currentState: GlassesLinkState = "stopped";
  private running: AbortController | undefined;
  private attempt: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private connection: Connection | undefined;
  private pairing: PairingRequest | undefined;
  private readonly waiters = new Set<Waiter>();
  private sendChain: Promise<void> = Promise.resolve();
  private sendsQueued = 0;

  constructor(options: GlassesLinkOptions) {
    super();
    this.noble = options.noble;
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.timers = options.timers ?? systemTimers;
    this.random = options.random ?? systemRandom;
    this.timeouts = { ...defaultGlassesLinkTimeouts, ...options.timeouts };
    this.reconnect = { ...defaultReconnectPolicy, ...options.reconnect };
    this.frameLimits = checkFrameLimits({ ...defaultFrameLimits, ...options.frames });
    this.mtuRequested = options.mtuRequested ?? 247;
    this.writeWithoutResponse = options.writeWithoutResponse ?? true;
    this.sendQueueMax = options.sendQueueMax ?? 32;
    this.expireIntervalMs = options.expireIntervalMs ?? 250;
    this.batteryLowPercent = options.batteryLowPercent ?? 15;
    this.assertionAgeMsMax = options.assertionAgeMsMax ?? 60_000;
    this.checkOptions();
  }

  private checkOptions(): void {
    const options = {
      mtuRequested: this.mtuRequested,
      sendQueueMax: this.sendQueueMax,
      expireIntervalMs: this.expireIntervalMs,
      batteryLowPercent: this.batteryLowPercent,
      assertionAgeMsMax: this.assertionAgeMsMax,
    };
    const timeoutRanges: Ranges<GlassesLinkTimeouts> = Object.fromEntries(
      Object.keys(this.timeouts).map((name) => [name, [1, 3_600_000, "milliseconds"] as const]),
    );
    const problems = [
      ...rangeProblems(options, {
        mtuRequested: [attMtuMin, attMtuMax, "bytes"],
        sendQueueMax: [1, 1024, "messages"],
        expireIntervalMs: [1, 60_000, "milliseconds"],
        batteryLowPercent: [0, 100, "percent"],
        assertionAgeMsMax: [1, 3_600_000, "milliseconds"],
      }),
      ...rangeProblems(
        this.reconnect,
        {
          delayMsInitial: [1, 600_000, "milliseconds"],
          delayMsMax: [this.reconnect.delayMsInitial, 3_600_000, "milliseconds"],
          attemptsMax: [1, 1_000_000, "attempts"],
        },
        "reconnect.",
      ),
      ...rangeProblems(this.timeouts, timeoutRanges, "timeouts."),
    ];
    assertNoProblems(problems, "glasses link options");
  }

  get state(): GlassesLinkState {
    return this.currentState;
  }

  /** The ATT MTU of the current connection, if any. */
  get mtu(): number | undefined {
    return this.connection?.mtu;
  }

  get binding(): GlassesBinding | undefined {
    return this.store.get();
  }

  /** Frame-layer counters of the current connection. */
  get frameStats(): Reassembler["stats"] | undefined {
    return this.connection ? { ...this.connection.reassembler.stats } : undefined;
  }

  /** Waits for the adapter (BleAdapterUnavailable after poweredOnMs), then keeps the link up in the background. */
  async start(): Promise<void> {
    assert(this.running === undefined, "GlassesLink already started");
    const running = new AbortController();
    this.running = running;
    this.setState("waitingForAdapter");
    try {
      await this.ensurePoweredOn(running.signal);
    } catch (error) {
      this.running = undefined;
      this.setState("stopped");
      throw error;
    }
    this.loop = this.run(running.signal);
  }

  /** Ends the connection, any pairing in progress and the reconnect loop; the noble instance stays as it was. */
  async stop(): Promise<void> {
    const running = this.running;
    if (!running) return;
    const cancelled = new TapwireError("link stopped", ErrorCode.Cancelled);
    running.abort(cancelled);
    this.attempt?.abort(cancelled);
    this.wakeUp?.();
    await this.loop;
    if (this.pairing) this.finishPairing(this.pairing, undefined, cancelled);
    this.running = undefined;
    this.loop = undefined;
    this.setState("stopped");
  }

  /** Resolves once the link is authenticated with the paired glasses; BleTimeout otherwise. */
  async waitUntilReady(timeoutMs: number): Promise<void> {
    if (this.currentState === "ready") return;
    let listener: ((state: GlassesLinkState) => void) | undefined;
    const ready = new Promise<void>((resolve) => {
      listener = (state) => {
        if (state === "ready") resolve();
      };
      this.on("state", listener);
    });
    try {
      await withTimeout(this.timers, ready, timeoutMs, "link ready", this.running?.signal);
    } finally {
      this.off("state", listener!);
    }
  }

  /**
   * Binds the glasses showing `code` (6 digits) to this hub, replacing any previous binding: the old
   * glasses and their key are wiped at once, even if this pairing then fails. Resolves with the new
   * binding; BlePairingRefused for a wrong code, BleNotFound / BleTimeout when no glasses answer.
   */
  pair(code: string, options: { timeoutMs?: number } = {}): Promise<GlassesBinding> {
    assert(this.running !== undefined, "GlassesLink.pair needs start() first");
    if (!pairingCodePattern.test(code)) {
      return Promise.reject(new TapwireError("a pairing code is 6 digits", ErrorCode.BlePairingRefused));
    }
    if (this.pairing) return Promise.reject(new TapwireError("a pairing is already in progress", ErrorCode.BleNotReady));
    this.store.clear();
    const timeoutMs = options.timeoutMs ?? this.timeouts.pairMs;
    let request: PairingRequest | undefined;
    const result = new Promise<GlassesBinding>((resolve, reject) => {
      request = { code, resolve, reject, timer: undefined };
    });
    this.pairing = request!;
    request!.timer = this.timers.setTimeout(() => {
      const timedOut = new TapwireError(`pairing did not finish within ${timeoutMs} ms`, ErrorCode.BleTimeout);
      this.finishPairing(request!, undefined, timedOut);
      this.attempt?.abort(timedOut);
    }, timeoutMs);
    this.attempt?.abort(new TapwireError("pairing requested", ErrorCode.Cancelled));
    this.wakeUp?.();
    return result;
  }

  /** Sends one message to the connected, authenticated glasses (BleNotReady otherwise). */
  send(message: HubToGlasses): Promise<void> {
    const connection = this.connection;
    if (!connection || !connection.authenticated) {
      return Promise.reject(new TapwireError("glasses link is not ready", ErrorCode.BleNotReady, { state: this.currentState }));
    }
    return this.enqueue(connection, message);
  }

  showOffer(offer: Omit<ShowOfferMessage, "type" | "v">): Promise<void> {
    return this.send({ type: "show_offer", v: protocolVersion, ...offer });
  }

  say(text: string, lang: GlassesLang): Promise<void> {
    return this.send({ type: "say", v: protocolVersion, text, lang });
  }

  /**
   * Sends `challenge` and resolves with the raw assertion (COSE_Sign1) the glasses answer with; check it
   * with verifyAssertion or forward it to settlement. BleTimeout after `timeoutMs`.
   */
  async requestBiometric(challenge: Uint8Array, options: { timeoutMs: number; signal?: AbortSignal }): Promise<Uint8Array> {
    const connection = this.connection;
    if (!connection || !connection.authenticated) throw new TapwireError("glasses link is not ready", ErrorCode.BleNotReady);
    const signal = options.signal ? AbortSignal.any([options.signal, connection.signal]) : connection.signal;
    const answer = this.waitFor<BiometricAssertionMessage>("biometric_assertion", options.timeoutMs, signal);
    await this.enqueue(connection, { type: "biometric_challenge", v: protocolVersion, challenge });
    return (await answer).assertion;
  }

  /** Verifies an assertion against the paired glasses, their owner and the challenge sent (see protocol/glasses.ts). */
  verifyAssertion(assertion: Uint8Array, challenge: Uint8Array): BiometricClaim {
    const binding = this.store.get();
    if (!binding) throw new TapwireError("no glasses are paired", ErrorCode.BlePairingRefused);
    return verifyBiometricAssertion(assertion, {
      publicKey: importPublicPem(binding.publicKeyPem),
      glassesId: binding.glassesId,
      ownerId: binding.ownerId,
      challenge,
      nowMs: this.clock.nowMs(),
      ageMsMax: this.assertionAgeMsMax,
    });
  }

  private setState(state: GlassesLinkState): void {
    if (state === this.currentState) return;
    log.debug({ from: this.currentState, to: state }, "glasses link state");
    this.currentState = state;
    this.emit("state", state);
  }

  private async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    for (;;) {
      if (signal.aborted) return;
      const pairing = this.pairing;
      const binding = this.store.get();
      if (!pairing && !binding) {
        this.setState("unpaired");
        await this.sleepUntilWoken(signal);
        continue;
      }
      const attempt = new AbortController();
      this.attempt = attempt;
      let failure: TapwireError;
      try {
        await this.session(attempt.signal, pairing, binding);
        failures = 0;
        failure = new TapwireError("glasses link dropped", ErrorCode.BleDisconnected);
      } catch (error) {
        failure = asTapwireError(error, ErrorCode.BleDisconnected);
        if (pairing) {
          // A failed pairing is answered to its caller, not retried: the owner reads a new code.
          this.finishPairing(pairing, undefined, failure);
          continue;
        }
      } finally {
        this.attempt = undefined;
      }
      if (signal.aborted) return;
      if (this.pairing || failure.code === ErrorCode.Cancelled) continue;
      failures++;
      if (failures > this.reconnect.attemptsMax) {
        log.warn({ failures, code: failure.code }, "glasses link gave up");
        this.setState("failed");
        this.emit("failed", failure);
        return;
      }
      const delayMs = Math.min(this.reconnect.delayMsInitial * 2 ** (failures - 1), this.reconnect.delayMsMax);
      this.setState("backoff");
      this.emit("reconnecting", { attempt: failures, delayMs, code: failure.code });
      await this.sleep(delayMs, signal);
    }
  }

  /** Sleeps until pair() or stop() wakes the loop. */
  private sleepUntilWoken(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal.aborted || this.pairing) {
        resolve();
        return;
      }
      this.wakeUp = () => {
        this.wakeUp = undefined;
        resolve();
      };
    });
  }

  /** A backoff wait that pair() and stop() cut short. */
  private async sleep(delayMs: number, signal: AbortSignal): Promise<void> {
    const woken = new AbortController();
    const wake = this.sleepUntilWoken(signal).then(() => woken.abort());
    try {
      await delay(this.timers, delayMs, AbortSignal.any([signal, woken.signal]));
    } catch {
      // Woken early by pair() or stop(): the loop looks at why.
    } finally {
      this.wakeUp?.();
      await wake;
    }
  }

  private async ensurePoweredOn(signal: AbortSignal): Promise<void> {
    if (this.noble.state === "poweredOn") return;
    let listener: ((state: string) => void) | undefined;
    const poweredOn = new Promise<void>((resolve) => {
      listener = (state) => {
        if (state === "poweredOn") resolve();
      };
      this.noble.on("stateChange", listener);
    });
    try {
      await withTimeout(this.timers, poweredOn, this.timeouts.poweredOnMs, "adapter poweredOn", signal);
    } catch (error) {
      if (signal.aborted) throw error;
      throw new TapwireError(`Bluetooth adapter is ${this.noble.state}, not poweredOn`, ErrorCode.BleAdapterUnavailable);
    } finally {
      this.noble.removeListener("stateChange", listener!);
    }
  }

  /** One connection from scan to disconnect. Resolves when an established link drops; throws if setting up fails. */
  private async session(signal: AbortSignal, pairing: PairingRequest | undefined, binding: GlassesBinding | undefined): Promise<void> {
    await this.ensurePoweredOn(signal);
    this.setState("scanning");
    const wanted = pairing ? undefined : glassesIdTag(binding!.glassesId);
    const peripheral = await this.scan((advert) => (wanted ? advert.idTag.equals(wanted) : advert.pairing), signal);

    const link = new AbortController();
    const linkSignal = AbortSignal.any([signal, link.signal]);
    const onDisconnect = (reason: unknown) => {
      link.abort(new TapwireError(`glasses disconnected (${String(reason)})`, ErrorCode.BleDisconnected, { reason }));
    };
    let reportedMtu: number | undefined;
    const onMtu = (mtu: number) => {
      reportedMtu = mtu;
      this.onMtu(mtu);
    };
    peripheral.on("mtu", onMtu);
    let connection: Connection | undefined;
    let onData: ((data: Buffer, isNotification: boolean) => void) | undefined;
    let stopExpiring: (() => void) | undefined;
    let connectPending = false;
    try {
      this.setState("connecting");
      // hci bindings read the MTU to request from the connect parameters; the typings do not list it.
      const connectOptions = { mtu: this.mtuRequested } as ConnectOptions;
      connectPending = true;
      await withTimeout(this.timers, this.noble.connectAsync(peripheral.id, connectOptions), this.timeouts.connectMs, "connect", signal).catch(
        (error: unknown) => {
          // A plain Error is the radio's own answer: nothing is left pending to cancel.
          if (!(error instanceof TapwireError)) connectPending = false;
          throw asTapwireError(error, ErrorCode.BleDisconnected);
        },
      );
      connectPending = false;
      peripheral.once("disconnect", onDisconnect);

      this.setState("discovering");
      const { write, notify } = await this.discover(peripheral, linkSignal);
      connection = {
        peripheral,
        write,
        notify,
        mtu: attMtuMin,
        sequencer: new FrameSequencer(this.frameLimits),
        reassembler: new Reassembler(this.frameLimits),
        signal: linkSignal,
        authenticated: false,
        glassesId: undefined,
      };
      const current = connection;
      onData = (data, isNotification) => {
        if (isNotification) this.onFrame(current, data);
      };
      notify.on("data", onData);
      await withTimeout(this.timers, notify.subscribeAsync(), this.timeouts.subscribeMs, "subscribe", linkSignal);
      connection.mtu = await this.learnMtu(peripheral, () => reportedMtu, linkSignal);
      this.connection = connection;
      stopExpiring = every(this.timers, this.expireIntervalMs, () => this.expireFrames(current));

      if (pairing) {
        this.setState("pairing");
        const paired = await this.pairExchange(connection, pairing.code, linkSignal);
        this.finishPairing(pairing, paired, undefined);
      } else {
        this.setState("authenticating");
        await this.authenticate(connection, binding!, linkSignal);
      }
      this.setState("ready");
      this.emit("connected", { glassesId: connection.glassesId!, peripheralId: peripheral.id, mtu: connection.mtu });
      await new Promise<void>((resolve) => {
        if (linkSignal.aborted) resolve();
        linkSignal.addEventListener("abort", () => resolve(), { once: true });
      });
      if (signal.aborted) throw abortReason(signal);
    } finally {
      stopExpiring?.();
      if (onData) connection?.notify.removeListener("data", onData);
      peripheral.removeListener("mtu", onMtu);
      peripheral.removeListener("disconnect", onDisconnect);
      if (this.connection === connection) this.connection = undefined;
      const reason = linkSignal.aborted ? abortReason(linkSignal).message : "setup failed";
      // A connect still pending (timed out, or stop()/pair() came first) is cancelled, or it would complete unowned.
      if (connectPending) this.noble.cancelConnect(peripheral.id);
      else await this.hangUp(peripheral);
      if (connection) this.emit("disconnected", { reason });
    }
  }

  private scan(matches: (advert: GlassesAdvert) => boolean, signal: AbortSignal): Promise<Peripheral> {
    let onDiscover: ((peripheral: Peripheral) => void) | undefined;
    const found = new Promise<Peripheral>((resolve) => {
      onDiscover = (peripheral) => {
        const advert = readAdvert(peripheral.advertisement);
        if (advert && peripheral.connectable && matches(advert)) resolve(peripheral);
      };
      this.noble.on("discover", onDiscover);
    });
    const scanning = withTimeout(
      this.timers,
      this.noble.startScanningAsync([glassesServiceUuid], true).then(() => found),
      this.timeouts.scanMs,
      "scan",
      signal,
    ).catch((error: unknown) => {
      const failure = asTapwireError(error, ErrorCode.BleAdapterUnavailable);
      if (failure.code === ErrorCode.BleTimeout) {
        throw new TapwireError(`no tapwire glasses found within ${this.timeouts.scanMs} ms`, ErrorCode.BleNotFound);
      }
      throw failure;
    });
    return scanning.finally(async () => {
      this.noble.removeListener("discover", onDiscover!);
      await withTimeout(this.timers, this.noble.stopScanningAsync(), this.timeouts.scanStopMs, "stop scanning").catch((error: unknown) => {
        log.warn({ error: String(error) }, "scan did not stop cleanly");
      });
    });
  }

  private async discover(peripheral: Peripheral, signal: AbortSignal): Promise<{ write: Characteristic; notify: Characteristic }> {
    const discovered = await withTimeout(
      this.timers,
      peripheral.discoverSomeServicesAndCharacteristicsAsync([glassesServiceUuid], [glassesWriteUuid, glassesNotifyUuid]),
      this.timeouts.discoverMs,
      "discover",
      signal,
    ).catch((error: unknown) => {
      if (error instanceof TapwireError) throw error;
      throw new TapwireError(`tapwire service not found: ${String(error)}`, ErrorCode.BleServiceMissing);
    });
    const write = discovered.characteristics.find((c) => c.uuid === glassesWriteUuid);
    const notify = discovered.characteristics.find((c) => c.uuid === glassesNotifyUuid);
    if (!write || !notify) throw new TapwireError("tapwire characteristics missing", ErrorCode.BleServiceMissing);
    if (!notify.properties.includes("notify")) throw new TapwireError("notify characteristic cannot notify", ErrorCode.BleServiceMissing);
    const writeKind = this.writeWithoutResponse ? "writeWithoutResponse" : "write";
    if (!write.properties.includes(writeKind)) throw new TapwireError(`write characteristic lacks ${writeKind}`, ErrorCode.BleServiceMissing);
    return { write, notify };
  }

  /** The MTU the bindings report after connecting; links that never report one keep the ATT minimum. */
  private async learnMtu(peripheral: Peripheral, reported: () => number | undefined, signal: AbortSignal): Promise<number> {
    const known = reported() ?? peripheral.mtu ?? undefined;
    if (known !== undefined) return this.negotiated(known);
    let listener: ((mtu: number) => void) | undefined;
    const next = new Promise<number>((resolve) => {
      listener = resolve;
      peripheral.once("mtu", listener);
    });
    try {
      return this.negotiated(await withTimeout(this.timers, next, this.timeouts.mtuMs, "MTU exchange", signal));
    } catch (error) {
      if (signal.aborted) throw error;
      log.info({ mtu: attMtuMin }, "no MTU reported; using the ATT minimum");
      return attMtuMin;
    } finally {
      peripheral.removeListener("mtu", listener!);
    }
  }

  private onMtu(mtu: number): void {
    const connection = this.connection;
    if (!connection) return;
    connection.mtu = this.negotiated(mtu);
    this.emit("mtu", connection.mtu);
  }

  /**
   * noble reports the peer's MTU from its exchange, not the one both sides agreed on: the ATT MTU in use is the
   * smaller of what the hub asked for and what the glasses offered.
   */
  private negotiated(reportedMtu: number): number {
    return clampMtu(Math.min(reportedMtu, this.mtuRequested));
  }

  private async pairExchange(connection: Connection, code: string, signal: AbortSignal): Promise<GlassesBinding> {
    const nonce = this.random.bytes(32);
    const answer = this.waitFor<Extract<GlassesToHub, { type: "pair_response" }>>("pair_response", this.timeouts.authMs, signal);
    await this.enqueue(connection, { type: "pair_request", v: protocolVersion, nonce });
    const verified = verifyPairResponse(await answer, code, nonce);
    const binding: GlassesBinding = {
      glassesId: verified.glassesId,
      ownerId: verified.ownerId,
      publicKeyPem: publicKeyPem(verified.publicKey),
      pairedAtMs: this.clock.nowMs(),
    };
    this.store.replace(binding);
    connection.glassesId = binding.glassesId;
    connection.authenticated = true;
    await this.enqueue(connection, { type: "pair_result", v: protocolVersion, ok: true, glassesId: binding.glassesId });
    log.info({ glassesId: binding.glassesId, ownerId: binding.ownerId, keyBytes: publicKeyDer(verified.publicKey).length }, "glasses paired");
    return binding;
  }

  private async authenticate(connection: Connection, binding: GlassesBinding, signal: AbortSignal): Promise<void> {
    const nonce = this.random.bytes(32);
    const answer = this.waitFor<Extract<GlassesToHub, { type: "auth_response" }>>("auth_response", this.timeouts.authMs, signal);
    await this.enqueue(connection, { type: "auth_challenge", v: protocolVersion, nonce });
    const response = await answer;
    try {
      verifySessionClaim(response.claim, importPublicPem(binding.publicKeyPem), binding.glassesId, nonce);
    } catch (error) {
      const refusal = asTapwireError(error, ErrorCode.BlePairingRefused);
      this.emit("refused", { code: refusal.code, reason: refusal.message, glassesId: binding.glassesId });
      throw refusal;
    }
    connection.glassesId = binding.glassesId;
    connection.authenticated = true;
  }

  /** Settles one pairing request once; a later request is never settled by an earlier one's timer or failure. */
  private finishPairing(request: PairingRequest, binding: GlassesBinding | undefined, error: TapwireError | undefined): void {
    if (this.pairing !== request) return;
    this.pairing = undefined;
    this.timers.clearTimeout(request.timer);
    if (binding) request.resolve(binding);
    else request.reject(error!);
  }

  private waitFor<T extends GlassesToHub>(type: T["type"], timeoutMs: number, signal: AbortSignal): Promise<T> {
    for (const waiter of this.waiters) {
      if (waiter.type === type) return Promise.reject(new TapwireError(`already waiting for ${type}`, ErrorCode.BleQueueFull));
    }
    let waiter: Waiter | undefined;
    const arrived = new Promise<T>((resolve) => {
      waiter = { type, resolve: resolve as (message: GlassesToHub) => void };
      this.waiters.add(waiter);
    });
    return withTimeout(this.timers, arrived, timeoutMs, `waiting for ${type}`, signal).finally(() => this.waiters.delete(waiter!));
  }

  private enqueue(connection: Connection, message: HubToGlasses): Promise<void> {
    if (this.sendsQueued >= this.sendQueueMax) {
      return Promise.reject(new TapwireError(`${this.sendsQueued} messages already waiting to be sent`, ErrorCode.BleQueueFull));
    }
    const bytes = encodeGlassesMessage(hubToGlassesSchema, message);
    this.sendsQueued++;
    const sent = this.sendChain.then(() => this.writeMessage(connection, bytes));
    this.sendChain = sent.then(
      () => undefined,
      () => undefined,
    );
    return sent.finally(() => {
      this.sendsQueued--;
    });
  }

  private async writeMessage(connection: Connection, bytes: Buffer): Promise<void> {
    if (connection.signal.aborted) throw abortReason(connection.signal);
    const { seq, frames: firstFrames } = connection.sequencer.encode(bytes, connection.mtu);
    let frames = firstFrames;
    let framedAtMtu = connection.mtu;
    // The MTU only shrinks a bounded number of times (it cannot go below 23); each shrink restarts the message.
    for (let restarts = 0, index = 0; index < frames.length; index++) {
      if (connection.mtu < framedAtMtu) {
        assert(restarts++ < attMtuMax, "MTU shrank more often than it has values");
        frames = connection.sequencer.reencode(seq, bytes, connection.mtu);
        framedAtMtu = connection.mtu;
        index = 0;
      }
      await withTimeout(this.timers, connection.write.writeAsync(frames[index]!, this.writeWithoutResponse), this.timeouts.writeMs, "write frame", connection.signal).catch(
        (error: unknown) => {
          throw asTapwireError(error, ErrorCode.BleDisconnected);
        },
      );
    }
  }

  private onFrame(connection: Connection, data: Buffer): void {
    for (const event of connection.reassembler.push(data, this.clock.nowMs())) this.onLinkEvent(connection, event);
  }

  private expireFrames(connection: Connection): void {
    for (const event of connection.reassembler.expire(this.clock.nowMs())) this.onLinkEvent(connection, event);
  }

  private onLinkEvent(connection: Connection, event: LinkEvent): void {
    if (event.kind !== "message") {
      log.debug({ fault: event }, "glasses link fault");
      this.emit("linkFault", event);
      return;
    }
    let message: GlassesToHub;
    try {
      message = decodeGlassesMessage(glassesToHubSchema, event.bytes);
    } catch (error) {
      const failure = asTapwireError(error, ErrorCode.SchemaInvalid);
      this.emit("linkFault", { kind: "unreadable", code: failure.code, reason: failure.message, seq: event.seq });
      return;
    }
    for (const waiter of this.waiters) {
      if (waiter.type === message.type) {
        this.waiters.delete(waiter);
        waiter.resolve(message);
      }
    }
    if (message.type === "pair_response" || message.type === "auth_response") return;
    if (!connection.authenticated) {
      this.emit("refused", { code: ErrorCode.BlePairingRefused, reason: `${message.type} from glasses that have not proven the pairing` });
      return;
    }
    if (message.type === "battery" && message.percent <= this.batteryLowPercent) this.emit("lowBattery", message.percent);
    this.emit("message", message);
  }

  /** Disconnects if still connected and waits (bounded) for the disconnect to be confirmed. */
  private async hangUp(peripheral: Peripheral): Promise<void> {
    if (peripheral.state !== "connected") return;
    await withTimeout(this.timers, peripheral.disconnectAsync(), this.timeouts.disconnectMs, "disconnect").catch((error: unknown) => {
      log.warn({ error: String(error) }, "disconnect not confirmed");
    });
  }
}

function clampMtu(mtu: number): number {
  return Math.max(attMtuMin, Math.min(attMtuMax, Math.floor(mtu)));
}
