import type { KeyObject } from "node:crypto";
import type { LinkPort, SettlementPort } from "../../device/ports.ts";
import { openSealed } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError, asTapwireError, errorCodeName } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import { decisionSchema, type Decision } from "../../protocol/messages.ts";
import type { SimConnection, SimNetwork } from "./sim-network.ts";
import { SettlementListeners } from "../../firmware-bridge/adapters/settlement-listeners.ts";

const log = logger("tapwire:sim:hub-link");

/**
 * A hub's settlement link over the world's SimNetwork, as device/'s SettlementPort and LinkPort: what
 * MqttSettlementLink is over MQTT. It never reconnects by itself (the hub's link machine does), it owns the fact
 * "online", and it passes on only decisions that verify with the service's key, exactly as HubLink does.
 */
export class SimHubLink implements SettlementPort, LinkPort {
  private connection: SimConnection | undefined;
  private readonly listeners = new SettlementListeners();

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
    return this.listeners.onDecision(listener);
  }

  onStatus(listener: (online: boolean) => void): () => void {
    return this.listeners.onStatus(listener);
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
    this.listeners.decided(decision, payload);
  }

  private announce(): void {
    this.listeners.announce(this.online);
  }
}
