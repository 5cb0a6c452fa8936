import { MqttConnection } from "../../transport/mqtt-connection.ts";
import { assert } from "../../core/assert.ts";
import { errorCodeName } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { logger } from "../../core/log.ts";
import type { Random } from "../../core/sources.ts";
import { merchantAckFilter, providerAnswerFilter, serviceRequestFilters } from "../../protocol/topics.ts";
import { clientIdFor } from "./identity.ts";
import type { ReplyProperties, ServiceTransport, TransportMessage } from "./service-transport.ts";

const log = logger("tapwire:service-link");

export interface MqttServiceTransportOptions {
  url: string;
  tls: { caPem: string; certPem: string; keyPem: string };
  /** 4 for the embedded aedes broker, 5 for Mosquitto. */
  protocolVersion: 4 | 5;
  /** MQTT 5: workers of one group share `$share/<group>/…` subscriptions, each request reaching one worker. */
  sharedGroup?: string;
  /** Distinguishes this worker's client id (`services/settlement@<instance>`); required with sharedGroup. */
  instance?: string;
  serviceId?: string;
  random?: Random;
  tcpNoDelay?: boolean;
  reconnectDelayMsMin?: number;
  reconnectDelayMsMax?: number;
  reconnectAttemptsMax?: number;
}

/** The service as an MQTT client of any broker: mTLS, its own certificate, QoS 1 both ways. */
export class MqttServiceTransport implements ServiceTransport {
  private connection: MqttConnection | undefined;

  constructor(private readonly options: MqttServiceTransportOptions) {
    if (options.sharedGroup !== undefined) {
      assert(options.protocolVersion === 5, "shared subscriptions need MQTT 5");
      assert(isId(options.sharedGroup), "sharedGroup must be an id");
      assert(options.instance !== undefined, "each worker of a shared group needs its own instance id");
    }
  }

  get connected(): boolean {
    return this.connection?.connected ?? false;
  }

  start(onMessage: (message: TransportMessage) => void): void {
    assert(this.connection === undefined, "MqttServiceTransport already started");
    const group = this.options.sharedGroup;
    this.connection = new MqttConnection({
      url: this.options.url,
      tls: this.options.tls,
      clientId: clientIdFor({ kind: "service", id: this.options.serviceId ?? "settlement" }, this.options.instance),
      protocolVersion: this.options.protocolVersion,
      // Providers' answers unshared: each must reach the worker that asked (protocol/topics.ts providerAnswerFilter).
      // The merchants' feeds are served by a single service only: each worker of a group keeps its own evidence.
      subscriptions: [
        ...serviceRequestFilters.map((filter) => ({ filter: group ? `$share/${group}/${filter}` : filter, qos: 1 as const })),
        { filter: providerAnswerFilter, qos: 1 as const },
        ...(group ? [] : [{ filter: merchantAckFilter, qos: 1 as const }]),
      ],
      logNamespace: "tapwire:service-link",
      onMessage: (topic, payload, packet) => {
        const correlationData = packet.properties?.correlationData;
        onMessage({ topic, payload, retain: packet.retain, ...(correlationData ? { correlationData } : {}) });
      },
      random: this.options.random,
      tcpNoDelay: this.options.tcpNoDelay,
      reconnectDelayMsMin: this.options.reconnectDelayMsMin,
      reconnectDelayMsMax: this.options.reconnectDelayMsMax,
      reconnectAttemptsMax: this.options.reconnectAttemptsMax,
      onRefused: (refusal) => log.error({ code: refusal.code, codeName: errorCodeName(refusal.code), ...refusal.context }, refusal.message),
    });
    this.connection.start();
  }

  waitConnected(timeoutMs: number): Promise<void> {
    assert(this.connection !== undefined, "MqttServiceTransport not started");
    return this.connection.waitConnected(timeoutMs);
  }

  publish(topic: string, payload: Buffer, properties: ReplyProperties): Promise<void> {
    assert(this.connection !== undefined, "MqttServiceTransport not started");
    const v5 =
      this.options.protocolVersion === 5
        ? { properties: { messageExpiryInterval: properties.expirySeconds, ...(properties.correlationData ? { correlationData: properties.correlationData } : {}) } }
        : {};
    return this.connection.publish(topic, payload, { qos: 1, ...v5 });
  }

  async stop(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    await connection?.stop();
  }
}
