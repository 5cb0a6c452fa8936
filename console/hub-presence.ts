import { MqttConnection } from "../transport/mqtt-connection.ts";
import { clientIdFor } from "../broker/mqtt/identity.ts";
import { assert } from "../core/assert.ts";
import { errorCodeName } from "../protocol/errors.ts";
import { logger } from "../core/log.ts";
import { systemClock, systemRandom, type Clock, type Random } from "../core/sources.ts";
import { hubStateFilter, parseTopic, type Principal } from "../protocol/topics.ts";

const log = logger("tapwire:dashboard-presence");

/** More hubs than this are not tracked (the dashboard lists fewer anyway); the map cannot grow without bound. */
export const hubsTrackedMax = 10_000;

export interface PresenceEntry {
  state: "online" | "offline";
  seenAtMs: number;
}

/** What a dashboard source reads; HubPresence implements it over MQTT. */
export interface PresenceView {
  readonly connected: boolean;
  /** Increases on every change of any hub's state or of the connection. */
  readonly version: number;
  stateOf(hubId: string): PresenceEntry | undefined;
}

export interface HubPresenceOptions {
  url: string;
  tls: { caPem: string; certPem: string; keyPem: string };
  /** The identity the certificate names; it must be allowed to subscribe to the hub state filter. */
  principal: Principal;
  protocolVersion: 4 | 5;
  clock?: Clock;
  random?: Random;
}

/**
 * Watches every hub's retained `state` topic (online, or offline by the hub itself or by its Last Will). The
 * client id carries a random instance suffix so it never takes over the session of the identity's own
 * process (the settlement service, when the dashboard borrows its identity) nor of another dashboard.
 */
export class HubPresence implements PresenceView {
  private connection: MqttConnection | undefined;
  private readonly states = new Map<string, PresenceEntry>();
  private changes = 0;
  private readonly clock: Clock;
  private readonly random: Random;

  constructor(private readonly options: HubPresenceOptions) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
  }

  get connected(): boolean {
    return this.connection?.connected ?? false;
  }

  get version(): number {
    return this.changes;
  }

  stateOf(hubId: string): PresenceEntry | undefined {
    return this.states.get(hubId);
  }

  start(): void {
    const instance = `dashboard-${Buffer.from(this.random.bytes(4)).toString("hex")}`;
    const connection = new MqttConnection({
      url: this.options.url,
      tls: this.options.tls,
      clientId: clientIdFor(this.options.principal, instance),
      protocolVersion: this.options.protocolVersion,
      subscriptions: [{ filter: hubStateFilter, qos: 1 }],
      logNamespace: "tapwire:dashboard-presence",
      random: this.random,
      onConnected: () => this.changes++,
      onOffline: () => this.changes++,
      onMessage: (topic, payload) => this.receive(topic, payload),
      onRefused: (refusal) => log.warn({ code: refusal.code, codeName: errorCodeName(refusal.code) }, refusal.message),
    });
    this.connection = connection;
    connection.start();
  }

  waitConnected(timeoutMs: number): Promise<void> {
    assert(this.connection, "HubPresence not started");
    return this.connection.waitConnected(timeoutMs);
  }

  async stop(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    await connection?.stop();
  }

  private receive(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (!parsed || parsed.kind !== "hub" || parsed.channel !== "state") return;
    const text = payload.toString("utf8");
    if (payload.length === 0) {
      // An empty retained message clears the topic: the hub's state is no longer known.
      if (this.states.delete(parsed.id)) this.changes++;
      return;
    }
    if (text !== "online" && text !== "offline") {
      log.debug({ hubId: parsed.id, bytes: payload.length }, "hub state neither online nor offline");
      return;
    }
    if (!this.states.has(parsed.id) && this.states.size >= hubsTrackedMax) {
      log.warn({ hubId: parsed.id, hubsTrackedMax }, "hub state not tracked: too many hubs");
      return;
    }
    this.states.set(parsed.id, { state: text, seenAtMs: this.clock.nowMs() });
    this.changes++;
  }
}
