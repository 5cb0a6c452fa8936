import type { Socket } from "node:net";
import { createServer, type Server, type TLSSocket } from "node:tls";
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client, type PublishPacket, type Subscription } from "aedes";
import { assert } from "../../core/assert.ts";
import { messageBytesMax } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError, errorCodeName } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import { mayPublish, maySubscribe, parseTopic, principalName, type Principal } from "../../protocol/topics.ts";
import { FrameLimitedConnection } from "./frame-limit.ts";
import { clientIdBelongsTo, principalFromCertificate } from "./identity.ts";
import type { TransportMessage } from "./service-transport.ts";

const log = logger("tapwire:mqtt-broker");

export interface EmbeddedBrokerOptions {
  /** PEM: the operator CA that issued every client certificate, and the broker's own certificate and key. */
  tls: { caPem: string; certPem: string; keyPem: string };
  /** Loopback by default; the broker is meant to sit behind the operator's own network edge. */
  host?: string;
  /** Default 8883; 0 binds a free port (read it back from `port` after start). */
  port?: number;
  /** Whether an enrolled, unrevoked principal may connect (the registry answers). */
  /** Whether this principal, presenting the certificate with this serial (hex), may connect. */
  isActive: (principal: Principal, certificateSerial: string | undefined) => boolean | Promise<boolean>;
  /** Called for every refused connection, publish and subscription, with the reason's code. */
  onRefusal?: (refusal: TapwireError) => void;
  /** Largest application payload accepted in a PUBLISH; default protocol/envelope messageBytesMax. */
  payloadBytesMax?: number;
  clientsMax?: number;
  connectTimeoutMs?: number;
  /** A subscriber that stops reading is dropped after this long, so it cannot stall delivery to others. */
  drainTimeoutMs?: number;
  /** Off only to measure what Nagle's algorithm costs; every round trip waits ~40 ms for delayed ACKs. */
  tcpNoDelay?: boolean;
}

/** Room for the topic, packet id and (v5) properties around a full-size payload. */
const frameOverheadBytesMax = 1024;
/** Pending TCP accepts the kernel queues; a burst beyond it is refused rather than buffered. */
const listenBacklog = 64;

/**
 * An MQTT 3.1.1 broker (aedes) behind mutual TLS, denying by default: the client certificate's CN is the
 * principal, and that principal may publish and subscribe only its own topics (protocol/topics.ts).
 * (Three lines over the house's ~300: the in-process route the settlement service takes belongs with the broker.)
 */
export class EmbeddedBroker {
  private aedes: Aedes | undefined;
  private server: Server | undefined;
  private boundPort = 0;
  private readonly sockets = new Set<Socket>();
  private readonly principals = new WeakMap<object, Principal | TapwireError>();
  /** The client certificate's serial per connection, for the revoked-certificate check at connect. */
  private readonly serials = new WeakMap<object, string>();
  private readonly clientsByPrincipal = new Map<string, Set<Client>>();
  private readonly payloadBytesMax: number;

  constructor(private readonly options: EmbeddedBrokerOptions) {
    this.payloadBytesMax = options.payloadBytesMax ?? messageBytesMax;
    assert(Number.isSafeInteger(this.payloadBytesMax) && this.payloadBytesMax > 0, "payloadBytesMax must be a positive integer");
  }

  get port(): number {
    return this.boundPort;
  }

  get host(): string {
    return this.options.host ?? "127.0.0.1";
  }

  get url(): string {
    return `mqtts://${this.host}:${this.boundPort}`;
  }

  /** Clients past CONNACK. */
  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  async start(): Promise<void> {
    assert(this.aedes === undefined, "EmbeddedBroker already started");
    const aedes = await Aedes.createBroker({
      // No emitter queue: mqemitter drains a full queue recursively, one stack frame set per queued message, and a
      // burst overflowed the stack. What bounds the work instead: aedes reads a client's next packet only once its
      // last publish is routed, the service link drops beyond its in-flight bound, the service queue sheds.
      concurrency: 0,
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
      drainTimeout: this.options.drainTimeoutMs ?? 10_000,
      authenticate: (client, _username, _password, done) => this.authenticate(client, done),
      authorizePublish: (client, packet, done) => done(this.authorizePublish(client, packet)),
      authorizeSubscribe: (client, subscription, done) => done(null, this.authorizeSubscribe(client, subscription)),
    });
    aedes.on("client", (client) => this.track(client));
    aedes.on("clientDisconnect", (client) => this.untrack(client));
    aedes.on("clientError", (client, error) => log.debug({ clientId: client.id, err: error.message }, "client error"));
    aedes.on("connectionError", (_client, error) => log.debug({ err: error.message }, "connection error"));
    this.aedes = aedes;

    const server = createServer({
      ca: this.options.tls.caPem,
      cert: this.options.tls.certPem,
      key: this.options.tls.keyPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
    });
    server.maxConnections = this.options.clientsMax ?? 10_000;
    server.on("connection", (socket: Socket) => this.accept(socket));
    server.on("secureConnection", (socket: TLSSocket) => this.handle(aedes, socket));
    server.on("tlsClientError", (error: Error & { code?: string }) => this.refuse(tlsRefusal(error)));
    this.server = server;
    await this.listen(server);
  }

  /** Closes every connection of this principal (on revocation); `isActive` must already answer false. */
  disconnect(principal: Principal): number {
    const clients = this.clientsByPrincipal.get(principalName(principal));
    if (clients === undefined) return 0;
    const count = clients.size;
    for (const client of [...clients]) client.close();
    log.info({ principal: principalName(principal), count }, "disconnected");
    return count;
  }

  /**
   * Routes every publish matching `filter` to `deliver`, in this process (the settlement service's own link). The
   * broker's acknowledgement does not wait for the subscriber: the subscriber bounds its own work.
   */
  subscribeInProcess(filter: string, deliver: (message: TransportMessage) => void): Promise<() => Promise<void>> {
    const aedes = this.aedes;
    assert(aedes !== undefined, "EmbeddedBroker not started");
    const listener = (packet: AedesPublishPacket, done: () => void) => {
      deliver({ topic: packet.topic, payload: Buffer.from(packet.payload), retain: packet.retain });
      // Acknowledged on a fresh stack: aedes reads a client's next packet from this callback, so a synchronous
      // call recurses once per packet buffered and overflows the stack under a burst.
      queueMicrotask(done);
    };
    return new Promise((resolve) => {
      aedes.subscribe(filter, listener, () =>
        resolve(() => new Promise<void>((unsubscribed) => aedes.unsubscribe(filter, listener, () => unsubscribed()))),
      );
    });
  }

  /** Publishes at QoS 1 from inside this process; no client identity, so no authorization hook runs. */
  publishInProcess(topic: string, payload: Buffer): Promise<void> {
    const aedes = this.aedes;
    if (aedes === undefined) return Promise.reject(new TapwireError("broker stopped", ErrorCode.Offline, { topic }));
    return new Promise((resolve, reject) => {
      aedes.publish({ cmd: "publish", topic, payload, qos: 1, retain: false, dup: false }, (error) =>
        error ? reject(new TapwireError(`publish failed: ${error.message}`, ErrorCode.Offline, { topic })) : resolve(),
      );
    });
  }

  async stop(): Promise<void> {
    const { aedes, server } = this;
    if (aedes === undefined || server === undefined) return;
    this.aedes = undefined;
    this.server = undefined;
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await serverClosed;
    this.clientsByPrincipal.clear();
    this.boundPort = 0;
  }

  private listen(server: Server): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => {
        reject(new TapwireError(`cannot listen on ${this.host}:${this.options.port ?? 8883}: ${error.message}`, ErrorCode.BrokerListenFailed));
      };
      server.once("error", onError);
      server.listen({ host: this.host, port: this.options.port ?? 8883, backlog: listenBacklog }, () => {
        server.off("error", onError);
        const address = server.address();
        assert(address !== null && typeof address === "object", "TLS server has no address after listen");
        this.boundPort = address.port;
        log.info({ host: this.host, port: this.boundPort }, "broker listening");
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    if (this.options.tcpNoDelay ?? true) socket.setNoDelay(true);
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  private handle(aedes: Aedes, socket: TLSSocket): void {
    const connection = new FrameLimitedConnection(socket, this.payloadBytesMax + frameOverheadBytesMax, (declaredBytes) => {
      const principal = this.principals.get(connection);
      this.refuse(
        new TapwireError("packet over the size limit", ErrorCode.PayloadTooLarge, {
          declaredBytes,
          principal: principal instanceof TapwireError || principal === undefined ? undefined : principalName(principal),
        }),
      );
    });
    const certificate = socket.getPeerCertificate();
    this.principals.set(connection, principalFromCertificate(certificate));
    if (typeof certificate?.serialNumber === "string") this.serials.set(connection, certificate.serialNumber);
    aedes.handle(connection);
  }

  private principalOf(client: Client | null): Principal | TapwireError {
    const found = client === null ? undefined : this.principals.get(client.conn);
    return found ?? new TapwireError("publish without a connected client", ErrorCode.NoClientCertificate);
  }

  private authenticate(client: Client, done: (error: AuthenticateError | null, success: boolean | null) => void): void {
    const principal = this.principalOf(client);
    if (principal instanceof TapwireError) return done(this.connectRefusal(principal, 5), null);
    const context = { principal: principalName(principal), clientId: client.id };
    if (!clientIdBelongsTo(client.id, principal)) {
      return done(this.connectRefusal(new TapwireError("client id does not belong to the certificate", ErrorCode.ClientIdMismatch, context), 2), null);
    }
    Promise.resolve()
      .then(() => this.options.isActive(principal, this.serials.get(client.conn)))
      .then(
        (active) => {
          if (active) return done(null, true);
          done(this.connectRefusal(new TapwireError("principal is not active", ErrorCode.Revoked, context), 5), null);
        },
        (error: unknown) => {
          const refusal = new TapwireError(`isActive failed: ${(error as Error).message}`, ErrorCode.ServiceUnavailable, context);
          done(this.connectRefusal(refusal, 3), null);
        },
      );
  }

  /** aedes answers CONNACK with `returnCode` (2 identifier rejected, 3 server unavailable, 5 not authorized). */
  private connectRefusal(refusal: TapwireError, returnCode: 2 | 3 | 5): AuthenticateError {
    this.refuse(refusal);
    return Object.assign(new Error(refusal.message), { returnCode }) as AuthenticateError;
  }

  /** A refused publish closes the connection (MQTT 3.1.1 has no negative PUBACK) and is never delivered. */
  private authorizePublish(client: Client | null, packet: PublishPacket): Error | null {
    const principal = this.principalOf(client);
    if (principal instanceof TapwireError) return this.refuse(principal);
    const context = { principal: principalName(principal), topic: packet.topic };
    if (!mayPublish(principal, packet.topic)) {
      return this.refuse(new TapwireError("publish not allowed", ErrorCode.PublishNotAllowed, context));
    }
    // A retained request or decision would be replayed to every later subscriber; only status is retained.
    if (packet.retain && parseTopic(packet.topic)?.channel !== "state") {
      return this.refuse(new TapwireError("retain allowed only on state topics", ErrorCode.PublishNotAllowed, context));
    }
    const payloadBytes = typeof packet.payload === "string" ? Buffer.byteLength(packet.payload) : packet.payload.length;
    if (payloadBytes > this.payloadBytesMax) {
      return this.refuse(new TapwireError("payload over the size limit", ErrorCode.PayloadTooLarge, { ...context, payloadBytes }));
    }
    return null;
  }

  /** A refused subscription is answered with SUBACK 0x80 and the connection stays up. */
  private authorizeSubscribe(client: Client, subscription: Subscription): Subscription | null {
    const principal = this.principalOf(client);
    if (principal instanceof TapwireError) {
      this.refuse(principal);
      return null;
    }
    if (maySubscribe(principal, subscription.topic)) return subscription;
    this.refuse(
      new TapwireError("subscribe not allowed", ErrorCode.SubscribeNotAllowed, {
        principal: principalName(principal),
        filter: subscription.topic,
      }),
    );
    return null;
  }

  private refuse(refusal: TapwireError): TapwireError {
    log.warn({ code: refusal.code, codeName: errorCodeName(refusal.code), ...refusal.context }, refusal.message);
    this.options.onRefusal?.(refusal);
    return refusal;
  }

  private track(client: Client): void {
    const principal = this.principalOf(client);
    if (principal instanceof TapwireError) return;
    const name = principalName(principal);
    const clients = this.clientsByPrincipal.get(name) ?? new Set<Client>();
    clients.add(client);
    this.clientsByPrincipal.set(name, clients);
  }

  private untrack(client: Client): void {
    const principal = this.principalOf(client);
    if (principal instanceof TapwireError) return;
    const name = principalName(principal);
    const clients = this.clientsByPrincipal.get(name);
    clients?.delete(client);
    if (clients?.size === 0) this.clientsByPrincipal.delete(name);
  }
}

/** Maps a failed TLS handshake to the reason: no certificate at all, or one this CA did not issue. */
function tlsRefusal(error: Error & { code?: string }): TapwireError {
  const noCertificate = error.code === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE" || /did not return a certificate/i.test(error.message);
  return new TapwireError(
    noCertificate ? "TLS client sent no certificate" : "TLS client certificate refused",
    noCertificate ? ErrorCode.NoClientCertificate : ErrorCode.CertificateInvalid,
    { tlsCode: error.code },
  );
}
