import type { Inbound, Outbound } from "../../broker/settlement/settlement-service.ts";
import { decodeBody } from "../../protocol/cbor.ts";
import { readEnvelope } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { Clock, Random, Timers } from "../../core/sources.ts";
import { principalName, type ClientKind, type Principal } from "../../protocol/topics.ts";
import { Pipe, type Parcel } from "./sim-pipe.ts";
import type { Trace } from "./trace.ts";

export type Direction = "up" | "down";

/** Who connects: a hub, a wallet or an agent (the service is attached, not connected). */
export interface ClientPrincipal {
  kind: ClientKind;
  id: string;
}

/** What a client hears from its connection. */
export interface ConnectionEvents {
  /** A message on the client's own `res` topic. */
  message(payload: Buffer): void;
  /** The connection is gone (cut, broker restart, taken over); it never comes back, the client connects anew. */
  closed(): void;
}

/** The settlement service as the broker sees it: every request goes in, signed decisions come out. */
export interface ServiceEndpoint {
  handle(inbound: Inbound): Promise<Outbound[]>;
}

export interface NetworkConfig {
  latencyMsMin: number;
  latencyMsMax: number;
  queueLengthMax: number;
}

export const networkConfigDefault: NetworkConfig = { latencyMsMin: 2, latencyMsMax: 40, queueLengthMax: 256 };

/** One client's MQTT connection: ordered QoS 1 both ways; closes once, for good. */
export class SimConnection {
  open = true;

  constructor(
    readonly name: string,
    readonly up: Pipe,
    readonly down: Pipe,
    private readonly events: ConnectionEvents,
    private readonly toBroker: (payload: Buffer) => void,
  ) {}

  /** QoS 1 publish on the client's `req` topic: resolves once the broker has it, rejects Offline if it never does. */
  publish(payload: Buffer): Promise<void> {
    if (!this.open) return Promise.reject(new TapwireError("not connected", ErrorCode.Offline));
    return new Promise((resolve, reject) =>
      this.up.send({
        label: describe(payload),
        arrive: () => this.toBroker(payload),
        ack: resolve,
        lost: () => reject(new TapwireError("connection lost before the broker had the message", ErrorCode.Offline)),
      }),
    );
  }

  deliver(parcel: Parcel): void {
    this.down.send(parcel);
  }

  hear(payload: Buffer): void {
    if (this.open) this.events.message(payload);
  }

  /** Gone: in-flight messages are lost both ways; `closed` tells the client unless it closed it itself. */
  close(tellClient: boolean): void {
    if (!this.open) return;
    this.open = false;
    this.up.close();
    this.down.close();
    if (tellClient) this.events.closed();
  }
}

/**
 * The MQTT broker of a world, in memory, with the semantics that matter to money: per-connection ordered QoS 1
 * delivery with latency, clean sessions (a decision for a client that is not connected is lost), one connection
 * per principal (a new one takes over), and the service as one more connection whose hops can be lost.
 * Faults: drop, duplicate or stall a direction, cut a connection, refuse connects, a broker restart (every
 * connection cut, everything queued lost, connects unanswered for a while), and the service going away.
 */
export class SimNetwork {
  private readonly connections = new Map<string, SimConnection>();
  private service: { endpoint: ServiceEndpoint; up: Pipe; down: Pipe } | undefined;
  private refusingUntilMs = 0;
  private downUntilMs = 0;

  constructor(
    private readonly deps: { clock: Clock; timers: Timers; random: Random; trace: Trace; config?: NetworkConfig },
  ) {}

  /** Connects `principal` after a handshake's latency; ConnectRefused while refusing, no answer while the broker is down. */
  async connect(principal: ClientPrincipal, events: ConnectionEvents, signal: AbortSignal): Promise<SimConnection> {
    const name = principalName(principal);
    await this.wait(2 * this.latencyMs(), signal);
    if (this.deps.clock.nowMs() < this.downUntilMs) await this.wait(this.downUntilMs - this.deps.clock.nowMs() + this.latencyMs(), signal);
    if (this.deps.clock.nowMs() < this.refusingUntilMs) {
      this.deps.trace.record("net", `${name} connect refused`);
      throw new TapwireError("the broker refused the connection", ErrorCode.ConnectRefused);
    }
    this.connections.get(name)?.close(true);
    const connection = new SimConnection(name, this.pipe(`${name}>`), this.pipe(`${name}<`), events, (payload) =>
      this.toService({ kind: principal.kind, id: principal.id, payload }),
    );
    this.connections.set(name, connection);
    this.deps.trace.record("net", `${name} connected`);
    return connection;
  }

  /** The client closes its own connection (a clean disconnect, or its process died: the broker sees the socket go). */
  disconnect(connection: SimConnection): void {
    if (this.connections.get(connection.name) === connection) this.connections.delete(connection.name);
    connection.close(false);
  }

  attachService(endpoint: ServiceEndpoint): void {
    this.service = { endpoint, up: this.pipe("service>"), down: this.pipe("service<") };
  }

  /** The service is gone: requests on their way to it and decisions on their way from it are lost. */
  detachService(): void {
    this.service?.up.close();
    this.service?.down.close();
    this.service = undefined;
  }

  /** A decision the service pushes outside any request (an operator's answer). */
  push(outbound: Outbound): void {
    this.service?.down.send({ label: describe(outbound.payload), arrive: () => this.route(outbound) });
  }

  cut(principal: Principal): void {
    const connection = this.connections.get(principalName(principal));
    if (connection === undefined) return;
    this.deps.trace.record("net", `${connection.name} cut`);
    this.connections.delete(connection.name);
    connection.close(true);
  }

  refuseConnects(untilMs: number): void {
    this.refusingUntilMs = Math.max(this.refusingUntilMs, untilMs);
    this.deps.trace.record("net", `refusing connects for ${untilMs - this.deps.clock.nowMs()}ms`);
  }

  /** Every connection cut, everything queued lost, no connect answered until `downMs` from now. */
  restartBroker(downMs: number): void {
    this.deps.trace.record("net", `broker restart, down ${downMs}ms`);
    this.downUntilMs = this.deps.clock.nowMs() + downMs;
    for (const connection of [...this.connections.values()]) connection.close(true);
    this.connections.clear();
    const service = this.service;
    if (service) {
      this.detachService();
      this.attachService(service.endpoint);
      this.service!.up.stall(this.downUntilMs);
    }
  }

  /** The pipe of one direction of a principal's current connection, for message faults. */
  pipeOf(principal: Principal, direction: Direction): Pipe | undefined {
    const connection = this.connections.get(principalName(principal));
    return direction === "up" ? connection?.up : connection?.down;
  }

  /** Every fault over: connects answered and accepted, every pipe flowing. */
  heal(): void {
    this.refusingUntilMs = 0;
    this.downUntilMs = 0;
    for (const connection of this.connections.values()) for (const pipe of [connection.up, connection.down]) pipe.heal();
    this.service?.up.heal();
    this.service?.down.heal();
  }

  /** Nothing on its way anywhere. */
  get idle(): boolean {
    const pipes = [...this.connections.values()].flatMap((connection) => [connection.up, connection.down]);
    if (this.service) pipes.push(this.service.up, this.service.down);
    return pipes.every((pipe) => pipe.idle);
  }

  private toService(inbound: Inbound): void {
    const service = this.service;
    if (service === undefined) {
      this.deps.trace.record("net", `no service for ${describe(Buffer.from(inbound.payload))}`);
      return;
    }
    service.up.send({ label: describe(Buffer.from(inbound.payload)), arrive: () => this.handle(service, inbound) });
  }

  private handle(service: NonNullable<SimNetwork["service"]>, inbound: Inbound): void {
    service.endpoint.handle(inbound).then(
      (replies) => {
        for (const reply of replies) {
          const label = describe(reply.payload);
          this.deps.trace.record("service", `to ${reply.kind}/${reply.id}: ${label}`);
          service.down.send({ label, arrive: () => this.route(reply) });
        }
      },
      (error: unknown) => this.deps.trace.record("service", `refused ${inbound.kind}/${inbound.id}: E${(error as TapwireError).code}`),
    );
  }

  /** Clean sessions: a decision for a principal that is not connected, or past its expiry, is lost. */
  private route(outbound: Outbound): void {
    const name = principalName({ kind: outbound.kind, id: outbound.id });
    const label = describe(outbound.payload);
    const connection = this.connections.get(name);
    if (this.deps.clock.nowMs() > outbound.expiresAtMs || connection === undefined) {
      this.deps.trace.record("net", `${name} missed ${label}`);
      return;
    }
    connection.deliver({ label, arrive: () => connection.hear(outbound.payload) });
  }

  private pipe(name: string): Pipe {
    const config = this.deps.config ?? networkConfigDefault;
    return new Pipe({
      name,
      clock: this.deps.clock,
      timers: this.deps.timers,
      trace: this.deps.trace,
      latencyMs: () => this.latencyMs(),
      queueLengthMax: config.queueLengthMax,
    });
  }

  private latencyMs(): number {
    const { latencyMsMin, latencyMsMax } = this.deps.config ?? networkConfigDefault;
    return latencyMsMin + (this.deps.random.bytes(1)[0]! % (latencyMsMax - latencyMsMin + 1));
  }

  private wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new TapwireError("connect aborted", ErrorCode.Cancelled));
      const onAbort = () => {
        this.deps.timers.clearTimeout(timer);
        reject(new TapwireError("connect aborted", ErrorCode.Cancelled));
      };
      const timer = this.deps.timers.setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/** `payment_request 5f1c…` / `decision 5f1c… approved 0`: what a message is, for the trace. */
export function describe(payload: Buffer): string {
  try {
    const body = decodeBody(readEnvelope(payload).payload) as Record<string, unknown>;
    const id = body["requestId"] ?? body["offerId"] ?? body["mandateId"] ?? (body["offer"] ? "offer" : "");
    const outcome = body["type"] === "decision" ? ` ${String(body["status"])} ${String(body["code"])}` : "";
    return `${String(body["type"])} ${String(id)}${outcome}`;
  } catch {
    return "unreadable";
  }
}
