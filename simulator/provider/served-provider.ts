import { importPrivatePem, importPublicPem } from "../../protocol/keys.ts";
import { principalName, providerTopic } from "../../protocol/topics.ts";
import { logger } from "../../core/log.ts";
import type { Clock, Timers } from "../../core/sources.ts";
import { MqttConnection } from "../../transport/mqtt-connection.ts";
import { SimulatedProvider } from "./sim-provider.ts";

const log = logger("tapwire:sim:provider");

/** What `tapwire provider enroll` writes to its --out folder, read as text. */
export interface ProviderBundle {
  caPem: string;
  certPem: string;
  keyPem: string;
  servicePublicKeyPem: string;
}

export interface ServedProviderOptions {
  providerId: string;
  currency: string;
  bundle: ProviderBundle;
  /** The settlement broker: `mqtts://127.0.0.1:8883`. */
  brokerUrl: string;
  protocolVersion: 4 | 5;
  balances: Readonly<Record<string, number>>;
  clock: Clock;
  timers: Timers;
}

/**
 * A simulated wallet provider on the wire, the one assembly `tapwire sim serve provider`, the demo and the tests
 * use: an MQTT client with the provider's own certificate and key, reading the service's authorization requests on
 * `providers/<id>/res` and publishing its signed answers on `providers/<id>/req`. Its behaviour switch (answer,
 * silent, late, decline) is `provider.behaviour`.
 */
export class ServedProvider {
  readonly provider: SimulatedProvider;
  private readonly connection: MqttConnection;

  constructor(options: ServedProviderOptions) {
    const { providerId, bundle } = options;
    const answers = providerTopic(providerId, "req");
    this.connection = new MqttConnection({
      url: options.brokerUrl,
      tls: { caPem: bundle.caPem, certPem: bundle.certPem, keyPem: bundle.keyPem },
      clientId: principalName({ kind: "provider", id: providerId }),
      protocolVersion: options.protocolVersion,
      subscriptions: [{ filter: providerTopic(providerId, "res"), qos: 1 }],
      logNamespace: "tapwire:sim:provider",
      onMessage: (_topic, payload) => this.provider.receive(payload),
    });
    this.provider = new SimulatedProvider({
      providerId,
      privateKey: importPrivatePem(bundle.keyPem),
      servicePublicKey: importPublicPem(bundle.servicePublicKeyPem),
      currency: options.currency,
      balances: options.balances,
      clock: options.clock,
      timers: options.timers,
      send: (answer) => {
        // A lost answer ends as the service's ProviderTimeout; the provider keeps its answer for a retry.
        this.connection.publish(answers, answer, { qos: 1 }).catch((error: unknown) => log.warn({ err: error, providerId }, "answer not sent"));
      },
    });
  }

  /** Connects and waits until its subscription is in place. */
  async start(timeoutMs: number): Promise<void> {
    this.connection.start();
    await this.connection.waitConnected(timeoutMs);
  }

  stop(): Promise<void> {
    return this.connection.stop();
  }
}
