import type { KeyObject } from "node:crypto";
import type { IClientPublishOptions, IPublishPacket } from "mqtt";
import { assert } from "../../core/assert.ts";
import { openSealed } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError, asTapwireError, errorCodeName } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { logger } from "../../core/log.ts";
import { decisionSchema, type Decision } from "../../protocol/messages.ts";
import type { Random } from "../../core/sources.ts";
import { principalName, topicFor, type ClientKind } from "../../protocol/topics.ts";
import { MqttConnection, type QoS } from "../../transport/mqtt-connection.ts";

const log = logger("tapwire:hub-link");

export interface HubLinkOptions {
  url: string;
  tls: { caPem: string; certPem: string; keyPem: string };
  /** Must match the certificate's CN (the broker refuses any other client id). */
  principal: { kind: ClientKind; id: string };
  /** 4 for the embedded aedes broker; 5 adds Response Topic, Correlation Data and a delayed Last Will. */
  protocolVersion: 4 | 5;
  /** The settlement service's decision-signing key: a decision that does not verify is ignored. */
  servicePublicKey: KeyObject;
  requestsInFlightMax?: number;
  /** MQTT 5: the broker waits this long before publishing "offline", so a quick reconnect shows no flap. */
  willDelaySeconds?: number;
  random?: Random;
  tcpNoDelay?: boolean;
  reconnectDelayMsMin?: number;
  reconnectDelayMsMax?: number;
  reconnectAttemptsMax?: number;
  onConnected?: () => void;
  onOffline?: () => void;
  onRefused?: (refusal: TapwireError) => void;
  /** A verified decision no request is waiting for (it came after its timeout, or twice). */
  onUnmatchedDecision?: (reply: DecisionReply) => void;
}

export interface DecisionReply {
  /** The COSE_Sign1 bytes as received, for the receipt log. */
  bytes: Buffer;
  decision: Decision;
}

interface Pending {
  resolve: (reply: DecisionReply) => void;
  reject: (error: TapwireError) => void;
  timer: NodeJS.Timeout;
}

export const stateOnline = Buffer.from("online");
export const stateOffline = Buffer.from("offline");

/**
 * A hub's (or wallet's, or agent's) MQTT link: publishes signed requests on its own `req` topic and waits for
 * the service's signed decision on its own `res` topic, matched by the requestId inside the verified body.
 * Hubs keep a retained `state`: "online" once connected, "offline" as the Last Will.
 */
export class HubLink {
  private connection: MqttConnection | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly requestsMax: number;
  private readonly reqTopic: string;
  private readonly resTopic: string;
  private readonly stateTopic: string | undefined;

  constructor(private readonly options: HubLinkOptions) {
    this.requestsMax = options.requestsInFlightMax ?? 32;
    assert(Number.isSafeInteger(this.requestsMax) && this.requestsMax > 0, "requestsInFlightMax must be a positive integer");
    this.reqTopic = topicFor(options.principal.kind, options.principal.id, "req");
    this.resTopic = topicFor(options.principal.kind, options.principal.id, "res");
    this.stateTopic = options.principal.kind === "hub" ? topicFor("hub", options.principal.id, "state") : undefined;
  }

  get connected(): boolean {
    return this.connection?.connected ?? false;
  }

  get requestsInFlight(): number {
    return this.pending.size;
  }

  start(): void {
    assert(this.connection === undefined, "HubLink already started");
    const v5 = this.options.protocolVersion === 5;
    const will = this.stateTopic
      ? {
          topic: this.stateTopic,
          payload: stateOffline,
          qos: 1 as const,
          retain: true,
          ...(v5 ? { properties: { willDelayInterval: this.options.willDelaySeconds ?? 5 } } : {}),
        }
      : undefined;
    this.connection = new MqttConnection({
      url: this.options.url,
      tls: this.options.tls,
      clientId: principalName(this.options.principal),
      protocolVersion: this.options.protocolVersion,
      subscriptions: [{ filter: this.resTopic, qos: 1 }],
      will,
      random: this.options.random,
      tcpNoDelay: this.options.tcpNoDelay,
      reconnectDelayMsMin: this.options.reconnectDelayMsMin,
      reconnectDelayMsMax: this.options.reconnectDelayMsMax,
      reconnectAttemptsMax: this.options.reconnectAttemptsMax,
      logNamespace: "tapwire:hub-link",
      onConnected: () => this.onConnected(),
      onOffline: () => this.options.onOffline?.(),
      onRefused: (refusal) => this.options.onRefused?.(refusal),
      onMessage: (topic, payload, packet) => this.receive(topic, payload, packet),
    });
    this.connection.start();
  }

  waitConnected(timeoutMs: number): Promise<void> {
    assert(this.connection !== undefined, "HubLink not started");
    return this.connection.waitConnected(timeoutMs);
  }

  /**
   * Publishes a sealed request and resolves with the verified decision whose requestId matches.
   * Fails fast with Offline when not connected (the caller's outbox decides whether to retry),
   * InflightFull when too many requests wait, DecisionTimeout after timeoutMs.
   */
  request(payload: Buffer, requestId: string, timeoutMs: number): Promise<DecisionReply> {
    if (!isId(requestId)) return Promise.reject(new TapwireError("requestId is not an id", ErrorCode.SchemaInvalid, { requestId }));
    if (this.pending.has(requestId)) return Promise.reject(new TapwireError("request already waiting", ErrorCode.BusyAlready, { requestId }));
    if (this.pending.size >= this.requestsMax) {
      return Promise.reject(new TapwireError("too many requests waiting", ErrorCode.InflightFull, { requestsMax: this.requestsMax }));
    }
    const connection = this.connection;
    if (connection === undefined || !connection.connected) return Promise.reject(new TapwireError("not connected", ErrorCode.Offline));
    const reply = new Promise<DecisionReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new TapwireError(`no decision within ${timeoutMs} ms`, ErrorCode.DecisionTimeout, { requestId }));
      }, timeoutMs);
      this.pending.set(requestId, { resolve, reject, timer });
    });
    const properties =
      this.options.protocolVersion === 5 ? { responseTopic: this.resTopic, correlationData: Buffer.from(requestId) } : undefined;
    connection.publish(this.reqTopic, payload, { qos: 1, ...(properties ? { properties } : {}) }).catch((error: unknown) => {
      this.settle(requestId, (pending) => pending.reject(asTapwireError(error, ErrorCode.Offline)));
    });
    return reply;
  }

  /**
   * Publishes sealed request bytes on the principal's own `req` topic without waiting for a decision here: a hub's
   * outbox matches decisions itself (onUnmatchedDecision then carries every decision). Rejects Offline when not
   * connected or not acknowledged.
   */
  publishRequest(payload: Buffer): Promise<void> {
    const connection = this.connection;
    if (connection === undefined || !connection.connected) return Promise.reject(new TapwireError("not connected", ErrorCode.Offline));
    const properties = this.options.protocolVersion === 5 ? { responseTopic: this.resTopic } : undefined;
    return connection.publish(this.reqTopic, payload, { qos: 1, ...(properties ? { properties } : {}) });
  }

  /** Any bytes to any topic, bypassing every check here: tests use it to offer the broker bad input. */
  publishRaw(topic: string, payload: Buffer, options: IClientPublishOptions = { qos: 1 }): Promise<void> {
    assert(this.connection !== undefined, "HubLink not started");
    return this.connection.publish(topic, payload, options);
  }

  /** Subscribes an arbitrary filter once; rejects SubscribeNotAllowed when the broker refuses it. */
  subscribe(filter: string, qos: QoS = 1): Promise<QoS> {
    assert(this.connection !== undefined, "HubLink not started");
    return this.connection.subscribe(filter, qos);
  }

  async stop(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    for (const requestId of [...this.pending.keys()]) {
      this.settle(requestId, (pending) => pending.reject(new TapwireError("link stopped", ErrorCode.Cancelled, { requestId })));
    }
    // A clean DISCONNECT suppresses the Last Will, so say "offline" ourselves first.
    if (connection?.connected && this.stateTopic) {
      await connection.publish(this.stateTopic, stateOffline, { qos: 1, retain: true }).catch(() => undefined);
    }
    await connection?.stop();
  }

  private onConnected(): void {
    if (this.stateTopic && this.connection) {
      this.connection.publish(this.stateTopic, stateOnline, { qos: 1, retain: true }).catch((error: unknown) => {
        log.warn({ code: asTapwireError(error, ErrorCode.Offline).code }, "state not published");
      });
    }
    this.options.onConnected?.();
  }

  private receive(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (topic !== this.resTopic) {
      log.debug({ topic }, "message on another topic");
      return;
    }
    let decision: Decision;
    try {
      decision = openSealed(payload, this.options.servicePublicKey, decisionSchema).body;
    } catch (error) {
      const failure = asTapwireError(error, ErrorCode.MalformedCose);
      log.warn({ code: failure.code, codeName: errorCodeName(failure.code) }, "decision ignored: does not verify");
      return;
    }
    const correlation = packet.properties?.correlationData?.toString();
    if (correlation !== undefined && correlation !== decision.requestId) {
      log.warn({ correlation, requestId: decision.requestId }, "correlation data does not match the signed requestId; the signed one wins");
    }
    const reply = { bytes: payload, decision };
    if (!this.settle(decision.requestId, (pending) => pending.resolve(reply))) this.options.onUnmatchedDecision?.(reply);
  }

  private settle(requestId: string, action: (pending: Pending) => void): boolean {
    const pending = this.pending.get(requestId);
    if (pending === undefined) return false;
    this.pending.delete(requestId);
    clearTimeout(pending.timer);
    action(pending);
    return true;
  }
}
