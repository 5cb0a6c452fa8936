import { X509Certificate } from "node:crypto";
import { connect as tlsConnect, createSecureContext } from "node:tls";
import { MqttClient, type IClientOptions, type IClientPublishOptions, type IPublishPacket } from "mqtt";
import { assert } from "../core/assert.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { logger, type Logger } from "../core/log.ts";
import { systemRandom, type Random } from "../core/sources.ts";

/**
 * One mutual-TLS MQTT client connection (mqtt.js underneath), shared by the hub side (HubLink) and the
 * settlement side (ServiceLink): TCP_NODELAY on its socket, clean sessions, its own reconnect with
 * exponential backoff and jitter (mqtt.js only knows a fixed period), and subscriptions renewed on every
 * connect because a clean session forgets them.
 */
export interface MqttConnectionOptions {
  /** `mqtts://127.0.0.1:8883` */
  url: string;
  tls: { caPem: string; certPem: string; keyPem: string };
  clientId: string;
  /** 4 (MQTT 3.1.1, aedes) or 5 (Mosquitto: correlation data, message expiry, shared subscriptions). */
  protocolVersion: 4 | 5;
  /** Subscribed on every connect; a refusal is reported through onRefused. */
  subscriptions?: ReadonlyArray<{ filter: string; qos: QoS }>;
  will?: IClientOptions["will"];
  keepaliveSeconds?: number;
  /** A QoS 1 publish not acknowledged by then fails with Offline. */
  publishTimeoutMs?: number;
  connectTimeoutMs?: number;
  reconnectDelayMsMin?: number;
  reconnectDelayMsMax?: number;
  reconnectAttemptsMax?: number;
  /** Off only to measure what Nagle's algorithm costs. */
  tcpNoDelay?: boolean;
  random?: Random;
  logNamespace?: string;
  onConnected?: () => void;
  onOffline?: () => void;
  onMessage?: (topic: string, payload: Buffer, packet: IPublishPacket) => void;
  /** A CONNACK refusal or a refused subscription. */
  onRefused?: (refusal: TapwireError) => void;
}

export type QoS = 0 | 1 | 2;

/** MQTT 5 SUBACK reason codes at or above 0x80 are failures; 3.1.1 has only 0x80. */
const subackFailureMin = 0x80;

export class MqttConnection {
  private client: MqttClient | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempts = 0;
  private subscriptionsRenewed = false;
  private lastRefusal: TapwireError | undefined;
  private readonly waiters = new Set<{ resolve: () => void; reject: (error: TapwireError) => void }>();
  private readonly log: Logger;
  private readonly host: string;
  private readonly port: number;

  constructor(private readonly options: MqttConnectionOptions) {
    const url = new URL(options.url);
    assert(url.protocol === "mqtts:", `MQTT url must be mqtts://, got ${options.url}`);
    this.host = url.hostname;
    this.port = Number(url.port || 8883);
    this.log = logger(options.logNamespace ?? "tapwire:mqtt-client");
    // Unreadable TLS material fails here, typed, instead of inside mqtt.js's stream builder on every reconnect.
    try {
      // createSecureContext silently skips an unreadable CA, so parse it on its own.
      new X509Certificate(options.tls.caPem);
      createSecureContext({ ca: options.tls.caPem, cert: options.tls.certPem, key: options.tls.keyPem });
    } catch (error) {
      throw new TapwireError(`TLS material unusable: ${(error as Error).message}`, ErrorCode.CertificateInvalid, { url: options.url });
    }
  }

  /** True once the broker accepted us AND our subscriptions are renewed: a request sent earlier could lose its reply. */
  get connected(): boolean {
    return this.subscriptionsRenewed && (this.client?.connected ?? false);
  }

  /** Starts connecting; the connection then keeps itself up (with backoff) until stop(). */
  start(): void {
    assert(this.client === undefined, "MqttConnection already started");
    const client = new MqttClient(() => this.openSocket(), {
      clientId: this.options.clientId,
      protocolVersion: this.options.protocolVersion,
      clean: true,
      keepalive: this.options.keepaliveSeconds ?? 30,
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 0,
      resubscribe: false,
      manualConnect: true,
      ...(this.options.will ? { will: this.options.will } : {}),
    });
    client.on("connect", () => this.onConnect());
    client.on("close", () => this.onClose());
    client.on("message", (topic, payload, packet) => this.options.onMessage?.(topic, payload, packet));
    client.on("error", (error) => this.onError(error as Error & { code?: number | string }));
    this.client = client;
    client.connect();
  }

  /** Resolves once connected; rejects with the broker's refusal, or Offline after timeoutMs. */
  waitConnected(timeoutMs: number): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve();
        },
        reject: (error: TapwireError) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        waiter.reject(this.lastRefusal ?? new TapwireError(`not connected within ${timeoutMs} ms`, ErrorCode.Offline, { url: this.options.url }));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  publish(topic: string, payload: Buffer, options: IClientPublishOptions): Promise<void> {
    const client = this.client;
    if (client === undefined || !client.connected) {
      return Promise.reject(new TapwireError("not connected", ErrorCode.Offline, { topic }));
    }
    const timeoutMs = this.options.publishTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new TapwireError(`publish not acknowledged within ${timeoutMs} ms`, ErrorCode.Offline, { topic })), timeoutMs);
      client.publish(topic, payload, options, (error) => {
        clearTimeout(timer);
        if (!error) return resolve();
        // MQTT 5 brokers refuse with a PUBACK reason code (0x87 not authorized, 0x95 packet too large).
        const reasonCode = (error as { code?: unknown }).code;
        if (typeof reasonCode === "number" && reasonCode >= 0x80) {
          reject(new TapwireError(`publish refused: ${error.message}`, ErrorCode.PublishNotAllowed, { topic, reasonCode }));
        } else {
          reject(new TapwireError(`publish failed: ${error.message}`, ErrorCode.Offline, { topic }));
        }
      });
    });
  }

  /** Subscribes once (not renewed on reconnect); resolves with the granted QoS or rejects SubscribeNotAllowed. */
  async subscribe(filter: string, qos: QoS): Promise<QoS> {
    const client = this.client;
    if (client === undefined || !client.connected) throw new TapwireError("not connected", ErrorCode.Offline, { filter });
    let code: number;
    try {
      code = (await client.subscribeAsync(filter, { qos }))[0]?.qos ?? subackFailureMin;
    } catch (error) {
      // mqtt.js rejects a SUBACK failure itself, with the reason code on the error.
      const failed = error as { code?: unknown; packet?: { granted?: unknown[] } };
      const reasonCode = typeof failed.code === "number" ? failed.code : failed.packet?.granted?.[0];
      if (typeof reasonCode !== "number") throw new TapwireError(`subscribe failed: ${(error as Error).message}`, ErrorCode.Offline, { filter });
      code = reasonCode;
    }
    if (code >= subackFailureMin) throw new TapwireError("subscription refused by the broker", ErrorCode.SubscribeNotAllowed, { filter, code });
    return code as QoS;
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    this.client = undefined;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    for (const waiter of [...this.waiters]) waiter.reject(new TapwireError("connection stopped", ErrorCode.Cancelled));
    // Forced: a polite end waits for every unacknowledged QoS 1 message, which a broker may never answer.
    await client.endAsync(true);
  }

  private openSocket() {
    const socket = tlsConnect({
      host: this.host,
      port: this.port,
      ca: this.options.tls.caPem,
      cert: this.options.tls.certPem,
      key: this.options.tls.keyPem,
      minVersion: "TLSv1.2",
      rejectUnauthorized: true,
    });
    if (this.options.tcpNoDelay ?? true) socket.setNoDelay(true);
    return socket;
  }

  private onConnect(): void {
    this.reconnectAttempts = 0;
    this.lastRefusal = undefined;
    this.subscriptionsRenewed = false;
    this.log.info({ clientId: this.options.clientId }, "connected");
    void this.renewSubscriptions().then(() => {
      if (!this.client?.connected) return;
      this.subscriptionsRenewed = true;
      for (const waiter of [...this.waiters]) waiter.resolve();
      this.options.onConnected?.();
    });
  }

  private async renewSubscriptions(): Promise<void> {
    for (const { filter, qos } of this.options.subscriptions ?? []) {
      try {
        await this.subscribe(filter, qos);
      } catch (error) {
        const refusal = error instanceof TapwireError ? error : new TapwireError(String(error), ErrorCode.Offline, { filter });
        this.log.error({ code: refusal.code, filter }, "subscription failed");
        this.options.onRefused?.(refusal);
      }
    }
  }

  /**
   * Numeric codes are CONNACK refusals; `ERR_SSL_*` are TLS alerts (the broker refused our certificate);
   * CERT_NOT_YET_VALID is the broker's certificate seen through our clock: the clock is behind, not the broker.
   */
  private onError(error: Error & { code?: number | string }): void {
    const clockWrong = error.code === "CERT_NOT_YET_VALID";
    const refused = clockWrong || typeof error.code === "number" || (typeof error.code === "string" && error.code.startsWith("ERR_SSL_"));
    if (!refused) {
      this.log.debug({ err: error.message }, "connection error");
      return;
    }
    this.lastRefusal = clockWrong
      ? new TapwireError(`the broker's certificate is not yet valid by this clock: ${error.message}`, ErrorCode.ClockWrong, { url: this.options.url })
      : new TapwireError(`broker refused the connection: ${error.message}`, ErrorCode.ConnectRefused, {
          reasonCode: error.code,
          clientId: this.options.clientId,
        });
    this.log.warn({ code: this.lastRefusal.code, reasonCode: error.code }, "connection refused");
    this.options.onRefused?.(this.lastRefusal);
    // Reconnecting goes on with backoff (the registry may re-admit us), but nobody should wait on it blindly.
    for (const waiter of [...this.waiters]) waiter.reject(this.lastRefusal);
  }

  private onClose(): void {
    this.subscriptionsRenewed = false;
    const client = this.client;
    if (client === undefined) return;
    // Each reconnect starts a clean session with fresh stores, so nothing in flight will ever be acknowledged:
    // fail those callbacks now instead of leaving their callers waiting.
    for (const messageId of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(messageId));
    this.options.onOffline?.();
    if (this.reconnectTimer !== undefined) return;
    const attemptsMax = this.options.reconnectAttemptsMax ?? 1_000;
    if (attemptsMax === 0) {
      // The caller owns reconnecting (a hub's machine, with its own backoff): a close is news, not a failure.
      this.log.debug("connection closed; the owner reconnects");
      const error = this.lastRefusal ?? new TapwireError("connection closed", ErrorCode.Offline);
      for (const waiter of [...this.waiters]) waiter.reject(error);
      return;
    }
    if (this.reconnectAttempts >= attemptsMax) {
      this.log.error({ attemptsMax }, "giving up reconnecting");
      const error = this.lastRefusal ?? new TapwireError(`gave up after ${attemptsMax} reconnect attempts`, ErrorCode.Offline);
      for (const waiter of [...this.waiters]) waiter.reject(error);
      return;
    }
    const delayMs = this.backoffMs(this.reconnectAttempts);
    this.reconnectAttempts += 1;
    this.log.debug({ delayMs, attempt: this.reconnectAttempts }, "reconnecting");
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.client?.reconnect();
    }, delayMs);
  }

  /** Exponential from the minimum, capped, with ±25 % jitter so a fleet does not reconnect in step. */
  private backoffMs(attempt: number): number {
    const minMs = this.options.reconnectDelayMsMin ?? 200;
    const maxMs = this.options.reconnectDelayMsMax ?? 15_000;
    const baseMs = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 20));
    const jitter = ((this.options.random ?? systemRandom).bytes(1)[0]! / 255 - 0.5) / 2;
    return Math.max(minMs, Math.round(baseMs * (1 + jitter)));
  }
}
