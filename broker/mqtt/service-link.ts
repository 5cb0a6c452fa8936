import type { IPublishPacket } from "mqtt";
import { MqttConnection, type MqttConnectionOptions } from "../../transport/mqtt-connection.ts";
import { assert } from "../../core/assert.ts";
import { messageBytesMax } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError, errorCodeName, isTapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { crashOutside } from "../../core/crash.ts";
import { logger } from "../../core/log.ts";
import { systemClock, type Clock, type Random } from "../../core/sources.ts";
import { parseTopic, serviceRequestFilters, topicFor, type ClientKind } from "../../protocol/topics.ts";
import { clientIdFor } from "./identity.ts";

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

export interface ServiceLinkOptions {
  url: string;
  tls: { caPem: string; certPem: string; keyPem: string };
  /** 4 for the embedded aedes broker, 5 for Mosquitto. */
  protocolVersion: 4 | 5;
  /** MQTT 5: workers of one group share `$share/<group>/…` subscriptions, each request reaching one worker. */
  sharedGroup?: string;
  /** Distinguishes this worker's client id (`services/settlement@<instance>`); required with sharedGroup. */
  instance?: string;
  serviceId?: string;
  handler: RequestHandler;
  /**
   * Handler calls running at once. A message beyond it is dropped unanswered and counted (its sender times out and
   * retries with backoff): the link never stops reading, so no backlog can pile up inside the broker. Set it above
   * the service's own queue bound, so the service answers Overloaded (signed, with retry-after) long before this.
   */
  handlerCallsInFlightMax?: number;
  /** A handler still running after this long loses its slot and its replies are dropped. */
  handlerTimeoutMs?: number;
  clock?: Clock;
  random?: Random;
  tcpNoDelay?: boolean;
  reconnectDelayMsMin?: number;
  reconnectDelayMsMax?: number;
  reconnectAttemptsMax?: number;
}

/**
 * The settlement service's side of MQTT: receives every client's requests (QoS 1), hands each to the handler
 * with at most `handlerCallsInFlightMax` running (beyond it a message is dropped and counted, never left waiting in
 * the broker), and publishes the replies to each addressee's own `res` topic. Replies go to the canonical topic, never to a
 * requester-chosen Response Topic, so a client cannot steer decisions elsewhere.
 */
export class ServiceLink {
  private connection: MqttConnection | undefined;
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
    if (options.sharedGroup !== undefined) {
      assert(options.protocolVersion === 5, "shared subscriptions need MQTT 5");
      assert(isId(options.sharedGroup), "sharedGroup must be an id");
      assert(options.instance !== undefined, "each worker of a shared group needs its own instance id");
    }
  }

  get connected(): boolean {
    return this.connection?.connected ?? false;
  }

  get handlerCallsInFlight(): number {
    return this.inFlight;
  }

  /** Messages dropped unanswered because handlerCallsInFlightMax calls were already running. */
  get droppedMessages(): number {
    return this.dropped;
  }

  start(): void {
    assert(this.connection === undefined, "ServiceLink already started");
    const group = this.options.sharedGroup;
    const connectionOptions: MqttConnectionOptions = {
      url: this.options.url,
      tls: this.options.tls,
      clientId: clientIdFor({ kind: "service", id: this.options.serviceId ?? "settlement" }, this.options.instance),
      protocolVersion: this.options.protocolVersion,
      subscriptions: serviceRequestFilters.map((filter) => ({ filter: group ? `$share/${group}/${filter}` : filter, qos: 1 as const })),
      logNamespace: "tapwire:service-link",
      onMessage: (topic, payload, packet) => this.receive(topic, payload, packet),
      random: this.options.random,
      tcpNoDelay: this.options.tcpNoDelay,
      reconnectDelayMsMin: this.options.reconnectDelayMsMin,
      reconnectDelayMsMax: this.options.reconnectDelayMsMax,
      reconnectAttemptsMax: this.options.reconnectAttemptsMax,
      onRefused: (refusal) => log.error({ code: refusal.code, codeName: errorCodeName(refusal.code), ...refusal.context }, refusal.message),
    };
    this.connection = new MqttConnection(connectionOptions);
    this.connection.start();
  }

  waitConnected(timeoutMs: number): Promise<void> {
    assert(this.connection !== undefined, "ServiceLink not started");
    return this.connection.waitConnected(timeoutMs);
  }

  async stop(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    await connection?.stop();
  }

  /**
   * Publishes a decision made outside any request (an operator's answer, an expired case) to its
   * addressee's `res` topic. Not awaited by callers for the same reason as replies (see callHandler).
   */
  publish(reply: OutboundReply): Promise<void> {
    return this.sendReply(reply, undefined);
  }

  private receive(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const parsed = parseTopic(topic);
    if (parsed === undefined || parsed.channel !== "req") {
      log.warn({ topic }, "message outside the request topics ignored");
      return;
    }
    if (packet.retain) {
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
    const correlationData = packet.properties?.correlationData;
    const inbound: InboundRequest = { kind: parsed.kind, id: parsed.id, payload, ...(correlationData ? { correlationData } : {}) };
    this.inFlight += 1;
    this.callHandler(inbound)
      .finally(() => this.releaseSlot())
      .catch((error: unknown) => crashOutside(error));
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
    const connection = this.connection;
    const remainingMs = reply.expiresAtMs - this.clock.nowMs();
    if (connection === undefined || remainingMs <= 0) {
      log.warn({ kind: reply.kind, id: reply.id, remainingMs }, "reply dropped: stopped or already expired");
      return;
    }
    const topic = topicFor(reply.kind, reply.id, "res");
    const toRequester = inbound !== undefined && reply.kind === inbound.kind && reply.id === inbound.id;
    const properties =
      this.options.protocolVersion === 5
        ? {
            messageExpiryInterval: Math.ceil(remainingMs / 1000),
            ...(toRequester && inbound.correlationData ? { correlationData: inbound.correlationData } : {}),
          }
        : undefined;
    try {
      await connection.publish(topic, reply.payload, { qos: 1, ...(properties ? { properties } : {}) });
    } catch (error) {
      // The requester retries with the same requestId and gets the same (idempotent) decision again.
      log.warn({ code: (error as TapwireError).code, topic }, "reply not sent");
    }
  }
}
