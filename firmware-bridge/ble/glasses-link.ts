import { EventEmitter } from "node:events";
import type { ConnectOptions, Noble, Peripheral } from "@stoprocent/noble";
import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError, asTapwireError } from "../../protocol/errors.ts";
import {
  pairingCodePattern,
  verifyBiometricAssertion,
  type BiometricAssertionMessage,
  type BiometricClaim,
  type GlassesLang,
  type HubToGlasses,
  type ShowOfferMessage,
} from "../../protocol/glasses.ts";
import { importPublicPem } from "../../protocol/keys.ts";
import { logger } from "../../core/log.ts";
import { protocolVersion } from "../../protocol/messages.ts";
import { systemClock, systemRandom, systemTimers, type Clock, type Random, type Timers } from "../../core/sources.ts";
import type { Reassembler } from "./frames.ts";
import { glassesIdTag } from "./gatt.ts";
import { GattSteps } from "./gatt-steps.ts";
import { GlassesChannel } from "./glasses-channel.ts";
import { authenticateOver, pairOver, type HandshakeDeps } from "./glasses-handshake.ts";
import { glassesLinkSettings, type GlassesLinkEvents, type GlassesLinkOptions, type GlassesLinkSettings, type GlassesLinkState } from "./glasses-link-options.ts";
import type { GlassesBinding, PairingStore } from "./pairing-store.ts";
import { abortReason, delay, every, withTimeout } from "./waits.ts";

const log = logger("tapwire:ble");

interface PairingRequest {
  code: string;
  resolve: (binding: GlassesBinding) => void;
  reject: (error: TapwireError) => void;
  timer: unknown;
}

/**
 * The hub's BLE link to one pair of smart glasses (the hub is the central). start() waits for the adapter
 * and keeps a connection to the paired glasses: scan for tapwire's service, connect, discover, subscribe,
 * learn the MTU, prove the glasses hold the paired key, then deliver their messages; a drop or a failed
 * step is retried with exponential backoff up to a maximum. pair(code) replaces the binding.
 *
 * Longer than the house's ~300 lines: the lifecycle (start, stop, pair, the reconnect loop and one session from
 * scan to hang-up) is one story whose waits abort each other; the radio steps (gatt-steps.ts), the messages over a
 * connection (glasses-channel.ts), the handshake (glasses-handshake.ts) and the options live in their own files.
 */
export class GlassesLink extends EventEmitter<GlassesLinkEvents> {
  private readonly noble: Noble;
  private readonly store: PairingStore;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly random: Random;
  private readonly settings: GlassesLinkSettings;
  private readonly gatt: GattSteps;

  private currentState: GlassesLinkState = "stopped";
  private running: AbortController | undefined;
  private attempt: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private channel: GlassesChannel | undefined;
  private pairing: PairingRequest | undefined;

  constructor(options: GlassesLinkOptions) {
    super();
    this.noble = options.noble;
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.timers = options.timers ?? systemTimers;
    this.random = options.random ?? systemRandom;
    this.settings = glassesLinkSettings(options);
    this.gatt = new GattSteps(this.noble, this.timers, this.settings);
  }

  get state(): GlassesLinkState {
    return this.currentState;
  }

  /** The ATT MTU of the current connection, if any. */
  get mtu(): number | undefined {
    return this.channel?.mtu;
  }

  get binding(): GlassesBinding | undefined {
    return this.store.get();
  }

  /** Frame-layer counters of the current connection. */
  get frameStats(): Reassembler["stats"] | undefined {
    return this.channel?.frameStats;
  }

  /** Waits for the adapter (BleAdapterUnavailable after poweredOnMs), then keeps the link up in the background. */
  async start(): Promise<void> {
    assert(this.running === undefined, "GlassesLink already started");
    const running = new AbortController();
    this.running = running;
    this.setState("waitingForAdapter");
    try {
      await this.gatt.poweredOn(running.signal);
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
    const timeoutMs = options.timeoutMs ?? this.settings.timeouts.pairMs;
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
    const channel = this.channel;
    if (!channel || !channel.authenticated) {
      return Promise.reject(new TapwireError("glasses link is not ready", ErrorCode.BleNotReady, { state: this.currentState }));
    }
    return channel.send(message);
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
    const channel = this.channel;
    if (!channel || !channel.authenticated) throw new TapwireError("glasses link is not ready", ErrorCode.BleNotReady);
    const signal = options.signal ? AbortSignal.any([options.signal, channel.signal]) : channel.signal;
    const answer = await channel.exchange<BiometricAssertionMessage>({ type: "biometric_challenge", v: protocolVersion, challenge }, "biometric_assertion", options.timeoutMs, signal);
    return answer.assertion;
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
      ageMsMax: this.settings.assertionAgeMsMax,
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
      const { reconnect } = this.settings;
      if (failures > reconnect.attemptsMax) {
        log.warn({ failures, code: failure.code }, "glasses link gave up");
        this.setState("failed");
        this.emit("failed", failure);
        return;
      }
      const delayMs = Math.min(reconnect.delayMsInitial * 2 ** (failures - 1), reconnect.delayMsMax);
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

  /** One connection from scan to disconnect. Resolves when an established link drops; throws if setting up fails. */
  private async session(signal: AbortSignal, pairing: PairingRequest | undefined, binding: GlassesBinding | undefined): Promise<void> {
    const { gatt, settings } = this;
    await gatt.poweredOn(signal);
    this.setState("scanning");
    const wanted = pairing ? undefined : glassesIdTag(binding!.glassesId);
    const peripheral = await gatt.scan((advert) => (wanted ? advert.idTag.equals(wanted) : advert.pairing), signal);

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
    let channel: GlassesChannel | undefined;
    let unsubscribe: (() => void) | undefined;
    let stopExpiring: (() => void) | undefined;
    let connectPending = false;
    try {
      this.setState("connecting");
      // hci bindings read the MTU to request from the connect parameters; the typings do not list it.
      const connectOptions = { mtu: settings.mtuRequested } as ConnectOptions;
      connectPending = true;
      await withTimeout(this.timers, this.noble.connectAsync(peripheral.id, connectOptions), settings.timeouts.connectMs, "connect", signal).catch(
        (error: unknown) => {
          // A plain Error is the radio's own answer: nothing is left pending to cancel.
          if (!(error instanceof TapwireError)) connectPending = false;
          throw asTapwireError(error, ErrorCode.BleDisconnected);
        },
      );
      connectPending = false;
      peripheral.once("disconnect", onDisconnect);

      this.setState("discovering");
      const { write, notify } = await gatt.discover(peripheral, linkSignal);
      const current = new GlassesChannel(peripheral, write, linkSignal, {
        clock: this.clock,
        timers: this.timers,
        settings,
        sink: {
          message: (message) => {
            if (message.type === "battery" && message.percent <= settings.batteryLowPercent) this.emit("lowBattery", message.percent);
            this.emit("message", message);
          },
          fault: (fault) => this.emit("linkFault", fault),
          refused: (refusal) => this.emit("refused", refusal),
        },
      });
      channel = current;
      const onData = (data: Buffer, isNotification: boolean) => {
        if (isNotification) current.receive(data);
      };
      notify.on("data", onData);
      unsubscribe = () => notify.removeListener("data", onData);
      await withTimeout(this.timers, notify.subscribeAsync(), settings.timeouts.subscribeMs, "subscribe", linkSignal);
      current.mtu = await gatt.learnMtu(peripheral, () => reportedMtu, linkSignal);
      this.channel = current;
      stopExpiring = every(this.timers, settings.expireIntervalMs, () => current.expire());

      const handshake: HandshakeDeps = { store: this.store, clock: this.clock, random: this.random, authMs: settings.timeouts.authMs };
      if (pairing) {
        this.setState("pairing");
        const paired = await pairOver(current, pairing.code, handshake, linkSignal);
        this.finishPairing(pairing, paired, undefined);
      } else {
        this.setState("authenticating");
        await authenticateOver(current, binding!, { ...handshake, onRefused: (refusal) => this.emit("refused", refusal) }, linkSignal);
      }
      this.setState("ready");
      this.emit("connected", { glassesId: current.glassesId!, peripheralId: peripheral.id, mtu: current.mtu });
      await new Promise<void>((resolve) => {
        if (linkSignal.aborted) resolve();
        linkSignal.addEventListener("abort", () => resolve(), { once: true });
      });
      if (signal.aborted) throw abortReason(signal);
    } finally {
      stopExpiring?.();
      unsubscribe?.();
      peripheral.removeListener("mtu", onMtu);
      peripheral.removeListener("disconnect", onDisconnect);
      if (this.channel === channel) this.channel = undefined;
      const reason = linkSignal.aborted ? abortReason(linkSignal).message : "setup failed";
      // A connect still pending (timed out, or stop()/pair() came first) is cancelled, or it would complete unowned.
      if (connectPending) this.noble.cancelConnect(peripheral.id);
      else await gatt.hangUp(peripheral);
      if (channel) this.emit("disconnected", { reason });
    }
  }

  private onMtu(mtu: number): void {
    const channel = this.channel;
    if (!channel) return;
    channel.mtu = this.gatt.negotiated(mtu);
    this.emit("mtu", channel.mtu);
  }

  /** Settles one pairing request once; a later request is never settled by an earlier one's timer or failure. */
  private finishPairing(request: PairingRequest, binding: GlassesBinding | undefined, error: TapwireError | undefined): void {
    if (this.pairing !== request) return;
    this.pairing = undefined;
    this.timers.clearTimeout(request.timer);
    if (binding) request.resolve(binding);
    else request.reject(error!);
  }
}
