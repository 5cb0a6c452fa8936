import type { Characteristic, Peripheral } from "@stoprocent/noble";
import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError, asTapwireError } from "../../protocol/errors.ts";
import { decodeGlassesMessage, encodeGlassesMessage, glassesToHubSchema, hubToGlassesSchema, type GlassesToHub, type HubToGlasses } from "../../protocol/glasses.ts";
import { logger } from "../../core/log.ts";
import type { Clock, Timers } from "../../core/sources.ts";
import { attMtuMax, attMtuMin, FrameSequencer, Reassembler, type LinkEvent } from "./frames.ts";
import type { GlassesInbound, GlassesLinkSettings, LinkFault, Refusal } from "./glasses-link-options.ts";
import { abortReason, withTimeout } from "./waits.ts";

const log = logger("tapwire:ble");

/** Where a channel hands what the glasses sent. */
export interface ChannelSink {
  message(message: GlassesInbound): void;
  fault(fault: LinkFault): void;
  refused(refusal: Refusal): void;
}

type Waiter = { type: GlassesToHub["type"]; resolve: (message: GlassesToHub) => void };

/**
 * Messages over one GATT connection: hub messages framed to the current MTU and written one after another
 * (bounded queue), glasses frames reassembled and decoded, answers handed to whoever waits for that type, and
 * nothing but the pairing handshake accepted before the glasses have proven the pairing. Lives as long as the
 * connection; `signal` aborts with it.
 */
export class GlassesChannel {
  mtu: number = attMtuMin;
  authenticated = false;
  glassesId: string | undefined;
  private readonly sequencer: FrameSequencer;
  private readonly reassembler: Reassembler;
  private readonly waiters = new Set<Waiter>();
  private sendChain: Promise<void> = Promise.resolve();
  private sendsQueued = 0;

  constructor(
    readonly peripheral: Peripheral,
    private readonly write: Characteristic,
    readonly signal: AbortSignal,
    private readonly deps: { clock: Clock; timers: Timers; settings: GlassesLinkSettings; sink: ChannelSink },
  ) {
    this.sequencer = new FrameSequencer(deps.settings.frameLimits);
    this.reassembler = new Reassembler(deps.settings.frameLimits);
  }

  /** Frame-layer counters of this connection. */
  get frameStats(): Reassembler["stats"] {
    return { ...this.reassembler.stats };
  }

  /** Queues one message (BleQueueFull past sendQueueMax); resolves once its last frame is written. */
  send(message: HubToGlasses): Promise<void> {
    if (this.sendsQueued >= this.deps.settings.sendQueueMax) {
      return Promise.reject(new TapwireError(`${this.sendsQueued} messages already waiting to be sent`, ErrorCode.BleQueueFull));
    }
    const bytes = encodeGlassesMessage(hubToGlassesSchema, message);
    this.sendsQueued++;
    const sent = this.sendChain.then(() => this.writeMessage(bytes));
    this.sendChain = sent.then(
      () => undefined,
      () => undefined,
    );
    return sent.finally(() => {
      this.sendsQueued--;
    });
  }

  /** The next message of `type` from the glasses; BleTimeout after timeoutMs, BleQueueFull if one already waits for it. */
  private waitFor<T extends GlassesToHub>(type: T["type"], timeoutMs: number, signal: AbortSignal): Promise<T> {
    for (const waiter of this.waiters) {
      if (waiter.type === type) return Promise.reject(new TapwireError(`already waiting for ${type}`, ErrorCode.BleQueueFull));
    }
    let waiter: Waiter | undefined;
    const arrived = new Promise<T>((resolve) => {
      waiter = { type, resolve: resolve as (message: GlassesToHub) => void };
      this.waiters.add(waiter);
    });
    return withTimeout(this.deps.timers, arrived, timeoutMs, `waiting for ${type}`, signal).finally(() => this.waiters.delete(waiter!));
  }

  /**
   * Sends `message` and resolves with the glasses' next message of `answerType`. The wait starts before the send so
   * a fast answer is not missed, and both are awaited together so a wait that ends (timeout, abort) while the send is
   * still going is never left as an unhandled rejection.
   */
  async exchange<T extends GlassesToHub>(message: HubToGlasses, answerType: T["type"], timeoutMs: number, signal: AbortSignal): Promise<T> {
    const answer = this.waitFor<T>(answerType, timeoutMs, signal);
    const [, reply] = await Promise.all([this.send(message), answer]);
    return reply;
  }

  /** A notification from the glasses' notify characteristic. */
  receive(data: Buffer): void {
    for (const event of this.reassembler.push(data, this.deps.clock.nowMs())) this.onLinkEvent(event);
  }

  /** Drops messages whose frames stopped arriving (called every expireIntervalMs). */
  expire(): void {
    for (const event of this.reassembler.expire(this.deps.clock.nowMs())) this.onLinkEvent(event);
  }

  private async writeMessage(bytes: Buffer): Promise<void> {
    if (this.signal.aborted) throw abortReason(this.signal);
    const { seq, frames: firstFrames } = this.sequencer.encode(bytes, this.mtu);
    let frames = firstFrames;
    let framedAtMtu = this.mtu;
    const { timers, settings } = this.deps;
    // The MTU only shrinks a bounded number of times (it cannot go below 23); each shrink restarts the message.
    for (let restarts = 0, index = 0; index < frames.length; index++) {
      if (this.mtu < framedAtMtu) {
        assert(restarts++ < attMtuMax, "MTU shrank more often than it has values");
        frames = this.sequencer.reencode(seq, bytes, this.mtu);
        framedAtMtu = this.mtu;
        index = 0;
      }
      await withTimeout(timers, this.write.writeAsync(frames[index]!, settings.writeWithoutResponse), settings.timeouts.writeMs, "write frame", this.signal).catch(
        (error: unknown) => {
          throw asTapwireError(error, ErrorCode.BleDisconnected);
        },
      );
    }
  }

  private onLinkEvent(event: LinkEvent): void {
    const { sink } = this.deps;
    if (event.kind !== "message") {
      log.debug({ fault: event }, "glasses link fault");
      sink.fault(event);
      return;
    }
    let message: GlassesToHub;
    try {
      message = decodeGlassesMessage(glassesToHubSchema, event.bytes);
    } catch (error) {
      const failure = asTapwireError(error, ErrorCode.SchemaInvalid);
      sink.fault({ kind: "unreadable", code: failure.code, reason: failure.message, seq: event.seq });
      return;
    }
    for (const waiter of this.waiters) {
      if (waiter.type === message.type) {
        this.waiters.delete(waiter);
        waiter.resolve(message);
      }
    }
    if (message.type === "pair_response" || message.type === "auth_response") return;
    if (!this.authenticated) {
      sink.refused({ code: ErrorCode.BlePairingRefused, reason: `${message.type} from glasses that have not proven the pairing` });
      return;
    }
    sink.message(message);
  }
}
