import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { providerAnswerFilter, serviceRequestFilters } from "../../protocol/topics.ts";
import type { ReplyProperties, ServiceTransport, TransportMessage } from "./service-transport.ts";

/** What the embedded broker offers a subscriber living in its own process. */
export interface InProcessBroker {
  /** Resolves once subscribed; the returned function unsubscribes. */
  subscribeInProcess(filter: string, deliver: (message: TransportMessage) => void): Promise<() => Promise<void>>;
  publishInProcess(topic: string, payload: Buffer): Promise<void>;
}

/**
 * The settlement service inside the embedded broker's process: requests arrive as the broker routes them and
 * replies are routed straight back, with no TLS session, MQTT codec or TCP socket between the two. Each request
 * is handed over at once (the link bounds and sheds), so a burst shows up in the service's own queue, where
 * admission can answer it, instead of hiding in socket buffers. MQTT 3.1.1 only: no expiry to carry.
 */
export class InProcessServiceTransport implements ServiceTransport {
  private unsubscribes: Array<() => Promise<void>> | undefined;
  private subscribed = false;
  private subscribing: Promise<void> | undefined;

  constructor(private readonly broker: InProcessBroker) {}

  get connected(): boolean {
    return this.subscribed;
  }

  start(onMessage: (message: TransportMessage) => void): void {
    assert(this.unsubscribes === undefined, "InProcessServiceTransport already started");
    const unsubscribes: Array<() => Promise<void>> = [];
    this.unsubscribes = unsubscribes;
    this.subscribing = Promise.all([...serviceRequestFilters, providerAnswerFilter].map((filter) => this.broker.subscribeInProcess(filter, onMessage))).then((done) => {
      unsubscribes.push(...done);
      this.subscribed = this.unsubscribes === unsubscribes;
    });
  }

  async waitConnected(_timeoutMs: number): Promise<void> {
    assert(this.subscribing !== undefined, "InProcessServiceTransport not started");
    await this.subscribing;
  }

  publish(topic: string, payload: Buffer, _properties: ReplyProperties): Promise<void> {
    if (!this.subscribed) return Promise.reject(new TapwireError("service link stopped", ErrorCode.Offline, { topic }));
    return this.broker.publishInProcess(topic, payload);
  }

  async stop(): Promise<void> {
    const unsubscribes = this.unsubscribes;
    this.unsubscribes = undefined;
    this.subscribed = false;
    await this.subscribing;
    await Promise.all((unsubscribes ?? []).map((unsubscribe) => unsubscribe()));
  }
}
