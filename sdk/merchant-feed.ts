import type { KeyObject } from "node:crypto";
import { assert } from "../core/assert.ts";
import { crashOutside } from "../core/crash.ts";
import { logger } from "../core/log.ts";
import { systemTimers, type Timers } from "../core/sources.ts";
import { MqttConnection } from "../transport/mqtt-connection.ts";
import { clientIdFor } from "../broker/mqtt/identity.ts";
import { isTapwireError } from "../protocol/errors.ts";
import { importPublicPem } from "../protocol/keys.ts";
import { encodeFeedAck, feedAckIntervalMs, openFeedEvent, type MerchantEvent } from "../protocol/merchant-feed.ts";
import { merchantFeedTopic } from "../protocol/topics.ts";

const log = logger("tapwire:merchant-feed-client");

/** Where a merchant stands in its feed: the seq of the last event it took (kept durably by the merchant). */
export interface FeedPosition {
  /** The seq of the last event taken (0: none yet). */
  read(): number;
  /** Records that every event up to `seq` is taken; durable before it returns, for a restart to resume after it. */
  write(seq: number): void;
}

/** What a merchant's back office needs to follow its feed (the files `tapwire merchant enroll-feed` writes). */
export interface MerchantFeedOptions {
  /** `mqtts://…`: the settlement service's broker. */
  url: string;
  merchantId: string;
  tls: { caPem: string; certPem: string; keyPem: string };
  /** The service's decision-signing key (PEM): every event is checked against it. */
  servicePublicKeyPem: string;
  /** 4 for the embedded broker, 5 for Mosquitto. */
  protocolVersion?: 4 | 5;
  position: FeedPosition;
  /** Takes one event; the position moves past it once this resolves. A rejection is a bug in the receiver: it crashes. */
  onEvent: (event: MerchantEvent) => Promise<void> | void;
  timers?: Timers;
}

/** What the client did with what arrived. */
export interface FeedCounts {
  taken: number;
  /** At or behind the position (a resend after a reconnect): dropped by seq, acknowledged again. */
  repeated: number;
  /** Not signed by the service, or not an event: dropped and logged. */
  refused: number;
}

/** Events waiting for the receiver; beyond it they are dropped and the feed is asked to send again from the position. */
const pendingEventsMax = 256;

/**
 * A merchant's signed event feed over MQTT, taken exactly once by seq: on each connect the client tells the service
 * where it stands (resume), each event is checked against the service's key, handed to `onEvent` in order, the
 * position written, then acknowledged; an ack also goes out every feedAckIntervalMs so the service keeps serving.
 */
export class MerchantFeedClient {
  private readonly connection: MqttConnection;
  private readonly servicePublicKey: KeyObject;
  private readonly timers: Timers;
  private readonly counts: FeedCounts = { taken: 0, repeated: 0, refused: 0 };
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private resumeAfterDrain = false;
  private keepalive: unknown;
  private started = false;

  constructor(private readonly options: MerchantFeedOptions) {
    this.servicePublicKey = importPublicPem(options.servicePublicKeyPem);
    this.timers = options.timers ?? systemTimers;
    this.connection = new MqttConnection({
      url: options.url,
      tls: options.tls,
      clientId: clientIdFor({ kind: "merchant", id: options.merchantId }),
      protocolVersion: options.protocolVersion ?? 4,
      subscriptions: [{ filter: merchantFeedTopic(options.merchantId, "events"), qos: 1 }],
      logNamespace: "tapwire:merchant-feed-client",
      onConnected: () => this.ack(true),
      onMessage: (_topic, payload) => this.receive(payload),
    });
  }

  get feedCounts(): FeedCounts {
    return { ...this.counts };
  }

  /** Connects (and keeps reconnecting); each connect resumes the feed from the position. */
  start(): void {
    assert(!this.started, "MerchantFeedClient already started");
    this.started = true;
    this.connection.start();
    this.scheduleKeepalive();
  }

  /** Resolves once connected and subscribed; rejects (typed) after timeoutMs. */
  waitConnected(timeoutMs: number): Promise<void> {
    return this.connection.waitConnected(timeoutMs);
  }

  /** Stops after the event being taken, if any; its position is written before this resolves. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.keepalive !== undefined) this.timers.clearTimeout(this.keepalive);
    await this.connection.stop();
    await this.chain;
  }

  private receive(payload: Buffer): void {
    if (this.pending >= pendingEventsMax) {
      this.resumeAfterDrain = true;
      return;
    }
    this.pending += 1;
    this.chain = this.chain
      .then(() => this.take(payload))
      .finally(() => {
        this.pending -= 1;
        if (this.pending === 0 && this.resumeAfterDrain) {
          this.resumeAfterDrain = false;
          this.ack(true);
        }
      })
      .catch((error: unknown) => crashOutside(error));
  }

  private async take(payload: Buffer): Promise<void> {
    if (!this.started) return;
    let event: MerchantEvent;
    try {
      event = openFeedEvent(payload, this.servicePublicKey);
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      this.counts.refused += 1;
      log.warn({ code: error.code, refused: this.counts.refused }, `feed message refused: ${error.message}`);
      return;
    }
    if (event.merchantId !== this.options.merchantId) {
      this.counts.refused += 1;
      log.warn({ merchantId: event.merchantId }, "feed event for another merchant refused");
      return;
    }
    if (event.seq <= this.options.position.read()) {
      this.counts.repeated += 1;
    } else {
      await this.options.onEvent(event);
      this.options.position.write(event.seq);
      this.counts.taken += 1;
    }
    this.ack(false);
  }

  private ack(resume: boolean): void {
    if (!this.connection.connected) return;
    const payload = encodeFeedAck(this.options.position.read(), resume);
    this.connection.publish(merchantFeedTopic(this.options.merchantId, "ack"), payload, { qos: 1 }).catch((error: unknown) => {
      if (!isTapwireError(error)) throw error;
      // Offline: the resume on the next connect says where the merchant stands.
      log.info({ code: error.code }, "feed position not sent");
    });
  }

  private scheduleKeepalive(): void {
    this.keepalive = this.timers.setTimeout(() => {
      if (!this.started) return;
      this.ack(false);
      this.scheduleKeepalive();
    }, feedAckIntervalMs);
  }
}
