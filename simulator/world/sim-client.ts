import type { KeyObject } from "node:crypto";
import { openSealed } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { decisionSchema, type Decision } from "../../protocol/messages.ts";
import type { Timers } from "../../core/sources.ts";
import type { ClientPrincipal, SimConnection, SimNetwork } from "./sim-network.ts";

/** Requests one wallet or agent waits on at once. */
export const requestsWaitingMax = 16;

export interface SimClientDeps {
  network: SimNetwork;
  principal: ClientPrincipal;
  servicePublicKey: KeyObject;
  timers: Timers;
  connectTimeoutMs: number;
  /** A verified decision nobody waits for: an outcome pushed later (a step-up answered, an operator's review). */
  onUnrequested?: (decision: Decision) => void;
}

/**
 * A wallet's or an agent's own link over the world's network, as HubLink is over MQTT for them: connects when it
 * has something to send, publishes a signed request and waits (on virtual time) for the verified decision that
 * names its requestId. Decisions nobody waits for go to onUnrequested (a person would see them in the app's history).
 */
export class SimClient {
  private connection: SimConnection | undefined;
  /** One connect at a time: a second would take the first one's place at the broker. */
  private connecting: Promise<SimConnection> | undefined;
  private readonly waiting = new Map<string, (decision: Decision) => void>();

  constructor(private readonly deps: SimClientDeps) {}

  /** The decision for `requestId`; Offline when it cannot connect or loses the message, DecisionTimeout after timeoutMs. */
  async request(payload: Buffer, requestId: string, timeoutMs: number): Promise<Decision> {
    if (this.waiting.has(requestId)) throw new TapwireError("request already waiting", ErrorCode.BusyAlready, { requestId });
    if (this.waiting.size >= requestsWaitingMax) throw new TapwireError("too many requests waiting", ErrorCode.InflightFull);
    const connection = await this.connected();
    const decision = new Promise<Decision>((resolve, reject) => {
      const timer = this.deps.timers.setTimeout(() => {
        this.waiting.delete(requestId);
        reject(new TapwireError(`no decision within ${timeoutMs} ms`, ErrorCode.DecisionTimeout, { requestId }));
      }, timeoutMs);
      this.waiting.set(requestId, (answer) => {
        this.deps.timers.clearTimeout(timer);
        this.waiting.delete(requestId);
        resolve(answer);
      });
    });
    // A publish that never reaches the broker ends in the same timeout: the person tries again.
    connection.publish(payload).catch(() => undefined);
    return decision;
  }

  close(): void {
    const connection = this.connection;
    this.connection = undefined;
    if (connection) this.deps.network.disconnect(connection);
  }

  private connected(): Promise<SimConnection> {
    if (this.connection?.open) return Promise.resolve(this.connection);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<SimConnection> {
    const abort = new AbortController();
    const timer = this.deps.timers.setTimeout(() => abort.abort(), this.deps.connectTimeoutMs);
    let opened: SimConnection | undefined;
    try {
      opened = await this.deps.network.connect(
        this.deps.principal,
        {
          message: (payload) => this.receive(payload),
          closed: () => {
            if (this.connection === opened) this.connection = undefined;
          },
        },
        abort.signal,
      );
    } catch (error) {
      throw new TapwireError("cannot connect", ErrorCode.Offline, undefined, { cause: error });
    } finally {
      this.deps.timers.clearTimeout(timer);
    }
    this.connection = opened;
    return opened;
  }

  private receive(payload: Buffer): void {
    let decision: Decision;
    try {
      decision = openSealed(payload, this.deps.servicePublicKey, decisionSchema).body;
    } catch {
      return;
    }
    const waiter = this.waiting.get(decision.requestId);
    if (waiter) waiter(decision);
    else this.deps.onUnrequested?.(decision);
  }
}
