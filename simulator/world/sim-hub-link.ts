import type { KeyObject } from "node:crypto";
import type { LinkPort, SettlementPort } from "../../device/ports.ts";
import { assert } from "../../core/assert.ts";
import { openSealed } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError, asTapwireError, errorCodeName } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import { decisionSchema, type Decision } from "../../protocol/messages.ts";
import type { SimConnection, SimNetwork } from "./sim-network.ts";

const log = logger("tapwire:sim:hub-link");

/** Decision listeners at once: the outbox and a few observers (as MqttSettlementLink allows). */
export const decisionListenersMax = 8;

/**
 * A hub's settlement link over the world's SimNetwork, as device/'s SettlementPort and LinkPort: what
 * MqttSettlementLink is over MQTT. It never reconnects by itself (the hub's link machine does), it owns the fact
 * "online", and it passes on only decisions that verify with the service's key, exactly as HubLink does.
 */
export class SimHubLink implements SettlementPort, LinkPort {
  private connection: SimConnection | undefined;
  private announced = false;
  private readonly statusListeners = new Set<(online: boolean) => void>();
  private readonly decisionListeners = new Set<(decision: Decision, bytes: Buffer) => void>();

  constructor(
    private readonly deps: { network: SimNetwork; hubId: string; servicePublicKey: KeyObject },
  ) {}

  get online(): boolean {
    return this.connection?.open ?? false;
  }

  async connect(input: { signal: AbortSignal }): Promise<void> {
    if (this.online) return;
    let opened: SimConnection | undefined;
    const connection = await this.deps.network.connect(
      { kind: "hub", id: this.deps.hubId },
      {
        message: (payload) => {
          if (opened === this.connection) this.receive(payload);
        },
        closed: () => {
          if (opened !== this.connection) return;
          this.connection = undefined;
          this.announce();
        },
      },
      input.signal,
    );
    opened = connection;
    this.connection = connection;
    this.announce();
  }

  publish(payload: Buffer): Promise<void> {
    const connection = this.connection;
    if (connection === undefined || !connection.open) return Promise.reject(new TapwireError("settlement link offline", ErrorCode.Offline));
    return connection.publish(payload);
  }

  onDecision(listener: (decision: Decision, bytes: Buffer) => void): () => void {
    assert(this.decisionListeners.size < decisionListenersMax, `at most ${decisionListenersMax} decision listeners`);
    this.decisionListeners.add(listener);
    return () => this.decisionListeners.delete(listener);
  }

  onStatus(listener: (online: boolean) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** The hub goes away without a word (its process died, or it stops): the broker sees the socket close. */
  drop(): void {
    const connection = this.connection;
    this.connection = undefined;
    if (connection) this.deps.network.disconnect(connection);
    this.announce();
  }

  private receive(payload: Buffer): void {
    let decision: Decision;
    try {
      decision = openSealed(payload, this.deps.servicePublicKey, decisionSchema).body;
    } catch (error) {
      const failure = asTapwireError(error, ErrorCode.MalformedCose);
      log.warn({ code: failure.code, codeName: errorCodeName(failure.code) }, "decision ignored: does not verify");
      return;
    }
    for (const listener of [...this.decisionListeners]) listener(decision, payload);
  }

  private announce(): void {
    const online = this.online;
    if (online === this.announced) return;
    this.announced = online;
    for (const listener of [...this.statusListeners]) listener(online);
  }
}
