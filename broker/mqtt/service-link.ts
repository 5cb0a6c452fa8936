import { assert } from "../../core/assert.ts";
import { messageBytesMax } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError, errorCodeName, isTapwireError } from "../../protocol/errors.ts";
import { crashOutside } from "../../core/crash.ts";
import { logger } from "../../core/log.ts";
import { systemClock, type Clock } from "../../core/sources.ts";
import { merchantFeedTopic, parseMerchantFeedTopic, parseProviderTopic, parseTopic, providerTopic, topicFor, type ClientKind } from "../../protocol/topics.ts";
import type { ServiceTransport, TransportMessage } from "./service-transport.ts";

const log = logger("tapwire:service-link");

export interface InboundRequest {
  kind: ClientKind;
  id: string;
  payload: Uint8Array;
  /** MQTT 5 only: the requester's Correlation Data, echoed on replies addressed back to it. */
  correlationData?: Buffer;
}

export interface OutboundReply {
  kind: ClientKind;
  id: string;
  payload: Buffer;
  /** Becomes the MQTT 5 Message Expiry; a reply already past it is not sent. */
  expiresAtMs: number;
}

export type RequestHandler = (inbound: InboundRequest) => Promise<OutboundReply[]>;

/** Takes a wallet provider's answer (`providers/<id>/req`); synchronous, it only settles a waiting authorization. */
export type ProviderAnswerHandler = (providerId: string, payload: Uint8Array) => void;

export interface ServiceLinkOptions {
  /** An MQTT client connection to any broker, or the embedded broker's in-process route. */
  transport: ServiceTransport;
  handler: RequestHandler;
  /** Where providers' answers go; without it they are ignored (logged). */
  providerAnswers?: ProviderAnswerHandler;
  /**
   * Handler calls running at once. A message beyond it is dropped unanswered and counted (its sender times out and
   * retries with backoff): the link never stops reading, so no backlog can pile up inside the broker. Set it above
   * the service's own queue bound, so the service answers Overloaded (signed, with retry-after) long before this.
   */
  handlerCallsInFlightMax?: number;
  /** A merchant's feed position (its `ack` topic); without it, acks are ignored like any topic outside the map. */
  onMerchantAck?: (merchantId: string, payload: Buffer) => void;
  /** A handler still running after this long loses its slot and its replies are dropped. */
  handlerTimeoutMs?: number;
  clock?: Clock;
}

/**
 * The settlement service's side of MQTT: receives every client's requests (QoS 1), hands each to the handler
 * with at most `handlerCallsInFlightMax` running (beyond it a message is dropped and counted, never left waiting in
 * the broker), and publishes the replies to each addressee's own `res` topic. Replies go to the canonical topic, never to a
 * requester-chosen Response Topic, so a client cannot steer decisions elsewhere.
 */
export class ServiceLink {
  private started = false;
  private inFlight = 0;
  private dropped = 0;
  /** Retained requests seen (each also logged) and not taken. */
  private retainedIgnored = 0;
  /** Requests the handler refused without an answer (the service stopping): each also logged. */
  private handlerRefusals = 0;
  private readonly callsMax: number;
  private readonly clock: Clock;

  constructor(private readonly options: ServiceLinkOptions) {
    this.callsMax = options.handlerCallsInFlightMax ?? 4_096;
    this.clock = options.clock ?? systemClock;
    assert(Number.isSafeInteger(this.callsMax) && this.callsMax > 0, "handlerCallsInFlightMax must be a positive integer");
  }

  get connected(): boolean {
    return this.started && this.options.transport.connected;
  }

  get handlerCallsInFlight(): number {
    return this.inFlight;
  }

  /** Messages dropped unanswered because handlerCallsInFlightMax calls were already running. */
  get droppedMessages(): number {
    return this.dropped;
  }

  start(): void {
    assert(!this.started, "ServiceLink already started");
    this.started = true;
    this.options.transport.start((message) => this.receive(message));
  }

  waitConnected(timeoutMs: number): Promise<void> {
    assert(this.started, "ServiceLink not started");
    return this.options.transport.waitConnected(timeoutMs);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.options.transport.stop();
  }

  /**
   * Publishes a decision made outside any request (an operator's answer, an expired case) to its
   * addressee's `res` topic. Not awaited by callers for the same reason as replies (see callHandler).
   */
  publish(reply: OutboundReply): Promise<void> {
    return this.sendReply(reply, undefined);
  }

  /** Publishes one of a merchant's signed events on its feed (QoS 1); resolves once the broker took it. */
  publishEvent(merchantId: string, payload: Buffer, expirySeconds: number): Promise<void> {
    if (!this.started) return Promise.reject(new TapwireError("service link stopped", ErrorCode.Offline, { merchantId }));
    return this.options.transport.publish(merchantFeedTopic(merchantId, "events"), payload, { expirySeconds });
  }

  /** Sends a wallet provider an authorization request or release, on its `res` topic, until expiresAtMs. */
  sendToProvider(providerId: string, payload: Buffer, expiresAtMs: number): void {
    const remainingMs = expiresAtMs - this.clock.nowMs();
    if (!this.connected) throw new TapwireError("the service link is not connected", ErrorCode.ProviderUnavailable, { providerId });
    const topic = providerTopic(providerId, "res");
    this.options.transport.publish(topic, payload, { expirySeconds: Math.max(1, Math.ceil(remainingMs / 1000)) }).catch((error: unknown) => {
      // The wait for the answer runs out on its own (ProviderTimeout).
      log.warn({ code: (error as TapwireError).code, topic }, "provider message not sent");
    });
  }

  private receive({ topic, payload, retain, correlationData }: TransportMessage): void {
    const feed = parseMerchantFeedTopic(topic);
    if (feed?.channel === "ack" && this.options.onMerchantAck && !retain && payload.length <= messageBytesMax) {
      this.options.onMerchantAck(feed.merchantId, payload);
      return;
    }
    const provider = parseProviderTopic(topic);
    if (provider !== undefined) {
      this.receiveProviderAnswer(provider, payload, retain);
      return;
    }
    const parsed = parseTopic(topic);
    if (parsed === undefined || parsed.channel !== "req") {
      log.warn({ topic }, "message outside the request topics ignored");
      return;
    }
    if (retain) {
      // A retained request would come back on every reconnect and be answered again and again: never taken.
      this.retainedIgnored += 1;
      log.warn({ topic, retainedIgnored: this.retainedIgnored }, "retained request ignored");
      return;
    }
    if (payload.length > messageBytesMax) {
      log.warn({ code: ErrorCode.PayloadTooLarge, topic, bytes: payload.length }, "oversize request ignored");
      return;
    }
    if (this.inFlight >= this.callsMax) {
      this.dropped += 1;
      if (this.dropped % 1_000 === 1) log.warn({ code: ErrorCode.Overloaded, dropped: this.dropped, inFlight: this.inFlight }, "request dropped at the edge");
      return;
    }
    const inbound: InboundRequest = { kind: parsed.kind, id: parsed.id, payload, ...(correlationData ? { correlationData } : {}) };
    this.inFlight += 1;
    this.callHandler(inbound)
      .finally(() => this.releaseSlot())
      .catch((error: unknown) => crashOutside(error));
  }

  private receiveProviderAnswer(provider: { id: string; channel: "req" | "res" }, payload: Buffer, retain: boolean): void {
    if (provider.channel !== "req" || retain || payload.length > messageBytesMax || this.options.providerAnswers === undefined) {
      log.warn({ providerId: provider.id, channel: provider.channel, retain, bytes: payload.length }, "provider message ignored");
      return;
    }
    this.options.providerAnswers(provider.id, payload);
  }

  private releaseSlot(): void {
    this.inFlight -= 1;
    assert(this.inFlight >= 0, "handler slot released twice");
  }

  private async callHandler(inbound: InboundRequest): Promise<void> {
    const timeoutMs = this.options.handlerTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    try {
      const replies = await Promise.race([this.options.handler(inbound), timedOut]);
      if (replies === undefined) {
        log.error({ code: ErrorCode.ServiceUnavailable, kind: inbound.kind, id: inbound.id, timeoutMs }, "handler timed out; replies dropped");
        return;
      }
      // Not awaited: the handler call is over once its replies are handed to the connection.
      for (const reply of replies) void this.sendReply(reply, inbound);
    } catch (error) {
      // The handler refuses typed (a stopped service: ServiceUnavailable); anything else is a bug: crash.
      if (!isTapwireError(error)) throw error;
      this.handlerRefusals += 1;
      log.warn({ code: error.code, kind: inbound.kind, id: inbound.id, refusals: this.handlerRefusals }, "request not handled; its sender retries");
    } finally {
      clearTimeout(timer);
    }
  }

  private async sendReply(reply: OutboundReply, inbound: InboundRequest | undefined): Promise<void> {
    const remainingMs = reply.expiresAtMs - this.clock.nowMs();
    if (!this.started || remainingMs <= 0) {
      log.warn({ kind: reply.kind, id: reply.id, remainingMs }, "reply dropped: stopped or already expired");
      return;
    }
    const topic = topicFor(reply.kind, reply.id, "res");
    const toRequester = inbound !== undefined && reply.kind === inbound.kind && reply.id === inbound.id;
    const correlationData = toRequester ? inbound.correlationData : undefined;
    try {
      await this.options.transport.publish(topic, reply.payload, { expirySeconds: Math.ceil(remainingMs / 1000), ...(correlationData ? { correlationData } : {}) });
    } catch (error) {
      // The requester retries with the same requestId and gets the same (idempotent) decision again.
      log.warn({ code: (error as TapwireError).code, topic }, "reply not sent");
    }
  }
}
