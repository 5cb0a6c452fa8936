import { assert } from "../../core/assert.ts";
import { crashOutside } from "../../core/crash.ts";
import { logger } from "../../core/log.ts";
import type { Timers } from "../../core/sources.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { decodeFeedAck, feedQuietMsMax, type MerchantEvent } from "../../protocol/merchant-feed.ts";
import { MerchantEventDispatch, dispatchDefaults, type DispatchOptions } from "./event-dispatch.ts";

const log = logger("tapwire:merchant-feed");

export interface MerchantFeedOptions {
  reader: DispatchOptions["reader"];
  /** Whether a merchant is enrolled (an ack from anyone else is ignored). */
  merchantKnown: (merchantId: string) => boolean;
  /** Signs one event (protocol/merchant-feed.ts sealFeedEvent with the service's key). */
  seal: (event: MerchantEvent) => Buffer;
  /** Publishes a signed event on the merchant's feed; resolves once the broker took it (QoS 1). */
  publish: (merchantId: string, payload: Buffer) => Promise<void>;
  timers: Timers;
}

/** How often the feeds look for new evidence while some merchant listens. */
export const feedPollMs = 250;
/** Events sent and not yet acknowledged, per merchant: the feed waits for acks beyond it. */
export const feedWindowEvents = 64;
/** Merchants listening at once; a resume beyond it is refused (logged, Overloaded) until one goes quiet. */
export const feedMerchantsMax = 64;

interface Listener {
  dispatch: MerchantEventDispatch;
  /** Seqs sent and not yet acknowledged, oldest first (at most feedWindowEvents). */
  unacked: number[];
  lastAckPolls: number;
  pumping: boolean;
  again: boolean;
  closed: boolean;
}

/**
 * Serves each listening merchant its events from the evidence chain, over MQTT: a merchant's resume (on connect)
 * sets where its feed starts, its acks free room in a window of feedWindowEvents, and new evidence is looked for
 * every feedPollMs. The merchant keeps its own position, so nothing here needs to survive a restart: after one, the
 * merchant's next ack (at the latest feedAckIntervalMs later) starts it again from where the merchant stands. Delivery is at least once and in order; the
 * delivery id makes it exactly once for a merchant that drops what it has seen.
 */
export class MerchantFeed {
  private readonly listeners = new Map<string, Listener>();
  private timer: unknown;
  private stopped = false;
  private polls = 0;

  constructor(private readonly options: MerchantFeedOptions) {}

  /** A message on a merchant's ack topic; malformed or from an unknown merchant: logged and ignored. */
  onAck(merchantId: string, payload: Uint8Array): void {
    if (this.stopped) return;
    let ack;
    try {
      ack = decodeFeedAck(payload);
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      log.warn({ code: error.code, merchantId }, `feed position ignored: ${error.message}`);
      return;
    }
    if (!this.options.merchantKnown(merchantId)) {
      log.warn({ code: ErrorCode.UnknownMerchant, merchantId }, "feed position from an unknown merchant ignored");
      return;
    }
    let listener = this.listeners.get(merchantId);
    if (listener === undefined || ack.resume) {
      if (listener === undefined && this.listeners.size >= feedMerchantsMax) {
        log.warn({ code: ErrorCode.Overloaded, merchantId, listening: this.listeners.size }, "feed refused: too many merchants listening");
        return;
      }
      if (listener) listener.closed = true;
      listener = this.listen(merchantId, ack.afterSeq);
    }
    listener.unacked = listener.unacked.filter((seq) => seq > ack.afterSeq);
    listener.lastAckPolls = this.polls;
    this.pump(listener);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.options.timers.clearTimeout(this.timer);
    this.timer = undefined;
    for (const listener of this.listeners.values()) listener.closed = true;
    this.listeners.clear();
  }

  /** Merchants served now. */
  get listening(): number {
    return this.listeners.size;
  }

  private listen(merchantId: string, afterSeq: number): Listener {
    let position = afterSeq;
    const listener: Listener = {
      unacked: [],
      lastAckPolls: this.polls,
      pumping: false,
      again: false,
      closed: false,
      dispatch: new MerchantEventDispatch({
        reader: this.options.reader,
        merchantId,
        cursor: { read: () => position, write: (seq) => (position = seq) },
        deliver: (event) => this.send(listener, event),
        ...dispatchDefaults,
      }),
    };
    this.listeners.set(merchantId, listener);
    return listener;
  }

  /** False (the dispatch stops there and tries it again later) while the window is full or the broker refuses. */
  private async send(listener: Listener, event: MerchantEvent): Promise<boolean> {
    if (listener.closed || listener.unacked.length >= feedWindowEvents) return false;
    try {
      await this.options.publish(event.merchantId, this.options.seal(event));
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      log.warn({ code: error.code, merchantId: event.merchantId, seq: event.seq }, "merchant event not published; tried again later");
      return false;
    }
    listener.unacked.push(event.seq);
    return true;
  }

  private pump(listener: Listener): void {
    if (listener.pumping) {
      listener.again = true;
      return;
    }
    listener.pumping = true;
    void (async () => {
      do {
        listener.again = false;
        await listener.dispatch.step();
      } while (listener.again && !listener.closed);
      listener.pumping = false;
    })().catch((error: unknown) => crashOutside(error));
  }

  private schedule(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = this.options.timers.setTimeout(() => {
      this.timer = undefined;
      this.poll();
    }, feedPollMs);
  }

  private poll(): void {
    this.polls += 1;
    const quietPolls = feedQuietMsMax / feedPollMs;
    for (const [merchantId, listener] of this.listeners) {
      if (this.polls - listener.lastAckPolls > quietPolls) {
        listener.closed = true;
        this.listeners.delete(merchantId);
        log.info({ merchantId }, "merchant feed quiet; served again on its next connect");
        continue;
      }
      this.pump(listener);
    }
    assert(this.listeners.size <= feedMerchantsMax, "listening merchants stay bounded");
    if (this.listeners.size > 0) this.schedule();
  }
}
