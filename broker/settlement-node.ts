import { ErrorCode, TapwireError, errorCodeName } from "../protocol/errors.ts";
import { createDataDir } from "../core/data-dir.ts";
import { logger } from "../core/log.ts";
import { systemClock, systemRandom, systemTimers, type Clock, type Random } from "../core/sources.ts";
import { settlementPrincipal, type Principal } from "../protocol/topics.ts";
import { enrollAgent, enrollHub, enrollMerchantFeed, enrollOperator, enrollProvider, enrollWallet, rotateHub, type EnrolmentBundle, type EnrolmentContext, type OperatorEnrolment } from "./enrolment.ts";
import { EmbeddedBroker } from "./mqtt/embedded-broker.ts";
import { RevocationWatch } from "./revocation-watch.ts";
import { ServiceLink } from "./mqtt/service-link.ts";
import { InProcessServiceTransport } from "./mqtt/in-process-service-transport.ts";
import { MqttServiceTransport } from "./mqtt/mqtt-service-transport.ts";
import type { ServiceTransport } from "./mqtt/service-transport.ts";
import { loadOrCreateOperatorPki, loadOrCreateWorkerIdentity, servicePrincipal, type OperatorPki } from "./operator-pki.ts";
import type { Registry } from "./registry/registry.ts";
import { GlassesPayerVerifier, enrollGlasses, glassesSchema, type GlassesEnrolment } from "./settlement/glasses-payer-verifier.ts";
import type { SettlementOptions } from "./settlement/options.ts";
import { SettlementService } from "./settlement/settlement-service.ts";
import { SettlementMetrics } from "./settlement-metrics.ts";
import { CertRenewals, isCertRenewal } from "./cert-renewals.ts";
import { UnverifiedReading } from "./decisions/unverified-reading.ts";
import type { Inbound } from "./decisions/verdicts.ts";
import { normalSerial } from "./registry/revoked-certificates.ts";
import { HealthEndpoint } from "../core/health-endpoint.ts";
import { sealFeedEvent } from "../protocol/merchant-feed.ts";
import { EvidenceReader } from "./merchant-events/evidence-reader.ts";
import { MerchantFeed } from "./merchant-events/merchant-feed.ts";
import { storeOfDataDir } from "./store/store-location.ts";

const log = logger("tapwire:settlement-node");

/** MQTT over TLS (IANA 8883). */
export const brokerPortDefault = 8883;
export const connectTimeoutMsDefault = 10_000;
/** Above the service's queue bound (2 048) plus a batch in flight: the service answers Overloaded first. */
export const handlerCallsInFlightMaxDefault = 4_096;
/** An event still undelivered after a day is dropped by an MQTT 5 broker: the merchant's resume sends it again. */
const merchantEventExpirySeconds = 86_400;

/** Where the service keeps its data, where its broker listens, and its limits. */
export interface SettlementNodeOptions {
  /** Holds `ledger.sqlite` and `pki/`; created on first start. */
  dataDir: string;
  /** Embedded broker listen address: loopback by default. */
  host?: string;
  /** Embedded broker port: 8883 (MQTT over TLS) by default; 0 picks a free port. */
  port?: number;
  /** Use this broker (e.g. Mosquitto, `mqtts://127.0.0.1:8883`) instead of starting the embedded one. */
  externalBrokerUrl?: string;
  /** 4 for aedes (the default); 5 for an external broker that speaks it (Mosquitto). */
  protocolVersion?: 4 | 5;
  /** MQTT 5 shared-subscription group for running several settlement workers. */
  sharedGroup?: string;
  instance?: string;
  clock?: Clock;
  random?: Random;
  settlement?: Partial<Omit<SettlementOptions, "databasePath" | "serviceKey" | "privacyKek" | "clock">>;
  /**
   * Requests the service holds at once (ServiceLink handlerCallsInFlightMax); a message beyond it is dropped and
   * counted at the edge, never left to pile up in the broker. Default 4 096.
   */
  handlerCallsInFlightMax?: number;
  /**
   * How the service meets the embedded broker: "in-process" (the default: no TLS, codec or socket between them,
   * so a burst queues where admission sees it) or "mqtt" (an mTLS client like any other, to measure the hop).
   * An external broker is always reached over MQTT.
   */
  serviceTransport?: "in-process" | "mqtt";
  /** Every connection, publish and subscription the embedded broker refuses, with its code (monitoring, tests). */
  onBrokerRefusal?: (refusal: TapwireError) => void;
  /** Serve `/metrics`, `/healthz` and `/readyz` on this port (0 picks one), on 127.0.0.1 unless `host` says. */
  metrics?: { port: number; host?: string };
}

/**
 * The settlement side as one process: the operator PKI, the settlement service on its SQLite ledger, the
 * embedded aedes broker (mTLS, deny by default, identities checked against the registry) unless an external
 * broker is named, and the service's own MQTT link. Revoking a hub disconnects it at once.
 */
export class SettlementNode {
  private pkiLoaded: OperatorPki | undefined;
  private serviceStarted: SettlementService | undefined;
  private broker: EmbeddedBroker | undefined;
  private link: ServiceLink | undefined;
  private revocationWatch: RevocationWatch | undefined;
  private unsubscribePush: (() => void) | undefined;
  private endpoint: HealthEndpoint | undefined;
  private feed: { feed: MerchantFeed; reader: EvidenceReader } | undefined;
  /** Always kept (a few counters); served over HTTP only when `metrics` is given. */
  readonly metrics: SettlementMetrics;
  private readonly clock: Clock;
  private readonly random: Random;

  constructor(private readonly options: SettlementNodeOptions) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
    this.metrics = new SettlementMetrics({
      service: () => this.serviceStarted,
      droppedAtEdge: () => this.droppedAtEdge,
      brokerClients: () => this.broker?.connectedClients ?? 0,
      linkConnected: () => this.link?.connected ?? false,
    });
  }

  /** On failure, whatever did start is stopped again before the error is thrown. */
  async start(): Promise<void> {
    try {
      await this.startParts();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  private async startParts(): Promise<void> {
    await createDataDir(this.options.dataDir);
    const pki = await loadOrCreateOperatorPki(this.options.dataDir, this.clock, this.random);
    this.pkiLoaded = pki;
    const settlement = this.options.settlement ?? {};
    const ownVerifiers = settlement.payerVerifiers ?? [];
    // Glasses payments work out of the box unless the caller brings its own glasses verifier.
    const withGlasses = !ownVerifiers.some((verifier) => verifier.kind === "glasses");
    const metrics = this.metrics;
    const service = new SettlementService({
      ...settlement,
      // Authorization requests leave through the link, built below once the service runs.
      providerTransport: {
        send: (providerId, payload, expiresAtMs) => {
          if (this.link === undefined) throw new TapwireError("the service link is not up yet", ErrorCode.ProviderUnavailable, { providerId });
          this.link.sendToProvider(providerId, payload, expiresAtMs);
        },
      },
      onDecision: (decision) => {
        metrics.decided(decision);
        settlement.onDecision?.(decision);
      },
      payerVerifiers: withGlasses ? [...ownVerifiers, new GlassesPayerVerifier()] : ownVerifiers,
      schemaComponents: withGlasses ? [...(settlement.schemaComponents ?? []), glassesSchema] : (settlement.schemaComponents ?? []),
      databasePath: storeOfDataDir(this.options.dataDir),
      serviceKey: pki.serviceSigningKey,
      privacyKek: pki.privacyKek,
      clock: this.clock,
    });
    await service.start();
    this.serviceStarted = service;
    let url = this.options.externalBrokerUrl;
    if (url === undefined) {
      const broker = new EmbeddedBroker({
        tls: { caPem: pki.ca.certPem, certPem: pki.server.certPem, keyPem: pki.server.keyPem },
        host: this.options.host ?? "127.0.0.1",
        port: this.options.port ?? brokerPortDefault,
        isActive: (principal, certificateSerial) => this.isActive(principal, certificateSerial),
        onRefusal: (refusal) => {
          log.info({ code: refusal.code, codeName: errorCodeName(refusal.code) }, refusal.message);
          metrics.refused(refusal.code);
          this.options.onBrokerRefusal?.(refusal);
        },
      });
      this.broker = broker;
      await broker.start();
      url = broker.url;
      this.revocationWatch = new RevocationWatch(service.registry, (principal) => broker.disconnect(principal));
      this.revocationWatch.start();
    }
    const renewals = new CertRenewals({ service, pki, clock: this.clock, random: this.random });
    // Merchants' feeds come from this node's evidence, read beside the service: one node serves them, not a shared group's workers.
    const feed = this.options.sharedGroup === undefined ? this.startFeed(service, pki, () => link) : undefined;
    const link: ServiceLink = new ServiceLink({
      transport: await this.transportTo(url, pki),
      handler: (inbound) => {
        const reading = new UnverifiedReading(inbound.payload);
        return isCertRenewal(inbound, reading) ? renewals.handle(inbound) : this.timed(service, inbound, reading);
      },
      providerAnswers: (providerId, payload) => void service.handleProviderAnswer(providerId, payload),
      ...(feed ? { onMerchantAck: (merchantId: string, payload: Buffer) => feed.onAck(merchantId, payload) } : {}),
      handlerCallsInFlightMax: this.options.handlerCallsInFlightMax ?? handlerCallsInFlightMaxDefault,
      clock: this.clock,
    });
    link.start();
    this.link = link;
    this.unsubscribePush = service.onPush((outbound) => void link.publish(outbound));
    await link.waitConnected(connectTimeoutMsDefault);
    if (this.options.metrics) {
      const endpoint = new HealthEndpoint({ registry: metrics.registry, readiness: () => this.readinessProblems(), ...this.options.metrics });
      this.endpoint = endpoint;
      await endpoint.start();
    }
    log.info({ url }, "settlement node ready");
  }

  /** Each listening merchant's signed events, read from the evidence beside the service (a read-only connection). */
  private startFeed(service: SettlementService, pki: OperatorPki, link: () => ServiceLink): MerchantFeed {
    const reader = new EvidenceReader(storeOfDataDir(this.options.dataDir));
    const feed = new MerchantFeed({
      reader,
      merchantKnown: (merchantId) => service.registry.findMerchant(merchantId) !== undefined,
      seal: (event) => sealFeedEvent(event, pki.serviceSigningKey),
      publish: (merchantId, payload) => link().publishEvent(merchantId, payload, merchantEventExpirySeconds),
      timers: this.options.settlement?.timers ?? systemTimers,
    });
    this.feed = { feed, reader };
    return feed;
  }

  /** Latency is real elapsed time (a monotonic clock), not the injected wall clock a simulation may stop. */
  private async timed(service: SettlementService, inbound: Inbound, reading: UnverifiedReading) {
    const startedMs = performance.now();
    const answers = await service.handle(inbound, reading);
    this.metrics.answeredAfter(performance.now() - startedMs);
    return answers;
  }

  /** What `/readyz` reports: empty when the node takes and answers requests. */
  readinessProblems(): Record<string, string> {
    const problems: Record<string, string> = {};
    const service = this.serviceStarted;
    if (service === undefined) return { service: "not started" };
    const storage = service.storageHealth;
    if (storage.state === "failing") problems["storage"] = `${storage.code} since ${new Date(storage.sinceMs).toISOString()} (${storage.failedBatches} batches failed)`;
    if (!(this.link?.connected ?? false)) problems["broker"] = "service link not connected";
    return problems;
  }

  /** Where `/metrics`, `/healthz` and `/readyz` are served, when they are. */
  get metricsUrl(): string | undefined {
    return this.endpoint?.url;
  }

  /** In-process to the embedded broker unless told otherwise; an MQTT client of an external broker. */
  private async transportTo(url: string, pki: OperatorPki): Promise<ServiceTransport> {
    const broker = this.broker;
    if (broker !== undefined && (this.options.serviceTransport ?? "in-process") === "in-process") return new InProcessServiceTransport(broker);
    const instance = this.options.instance;
    const identity = instance === undefined ? pki.service : await loadOrCreateWorkerIdentity(pki, instance, this.clock, this.random);
    return new MqttServiceTransport({
      url,
      tls: { caPem: pki.ca.certPem, certPem: identity.certPem, keyPem: identity.keyPem },
      serviceId: settlementPrincipal(instance).id,
      protocolVersion: this.options.protocolVersion ?? 4,
      ...(this.options.sharedGroup ? { sharedGroup: this.options.sharedGroup } : {}),
      ...(this.options.instance ? { instance: this.options.instance } : {}),
      random: this.random,
    });
  }

  /** Stops the service and its broker; the data dir stays. */
  async stop(): Promise<void> {
    await this.endpoint?.stop();
    this.endpoint = undefined;
    this.unsubscribePush?.();
    this.unsubscribePush = undefined;
    this.revocationWatch?.stop();
    this.revocationWatch = undefined;
    this.feed?.feed.stop();
    await this.link?.stop();
    this.link = undefined;
    this.feed?.reader.close();
    this.feed = undefined;
    await this.serviceStarted?.stop();
    this.serviceStarted = undefined;
    await this.broker?.stop();
    this.broker = undefined;
  }

  /** Requests dropped unanswered at the edge (the link's in-flight bound), for monitoring and the burst bench. */
  get droppedAtEdge(): number {
    return this.link?.droppedMessages ?? 0;
  }

  /** The broker URL hubs connect to. */
  get url(): string {
    if (this.broker) return this.broker.url;
    if (this.options.externalBrokerUrl) return this.options.externalBrokerUrl;
    throw new TapwireError("settlement node is not started", ErrorCode.ServiceUnavailable);
  }

  get service(): SettlementService {
    if (!this.serviceStarted) throw new TapwireError("settlement node is not started", ErrorCode.ServiceUnavailable);
    return this.serviceStarted;
  }

  get registry(): Registry {
    return this.service.registry;
  }

  get pki(): OperatorPki {
    if (!this.pkiLoaded) throw new TapwireError("settlement node is not started", ErrorCode.ServiceUnavailable);
    return this.pkiLoaded;
  }

  /** Enrols a hub for a merchant: issues its client certificate and returns its enrolment bundle (keys included). */
  enrollHub(request: { hubId: string; merchantId: string; publicKeyPem?: string }): Promise<EnrolmentBundle> {
    return enrollHub(this.enrolmentContext(), request);
  }

  /** Enrols a wallet with its currency and per-payment limit; returns its enrolment bundle. */
  enrollWallet(request: { walletId: string; currency: string; perPaymentMaxMinor: number; publicKeyPem?: string }): Promise<EnrolmentBundle> {
    return enrollWallet(this.enrolmentContext(), request);
  }

  /** Enrols a wallet provider (another wallet operator) with its home currency; returns its enrolment bundle. */
  enrollProvider(request: { providerId: string; currency: string; publicKeyPem?: string }): Promise<EnrolmentBundle> {
    return enrollProvider(this.enrolmentContext(), this.service.providers, request);
  }

  /** Enrols an AI agent; returns its enrolment bundle (the agent's key is the one mandates name). */
  enrollAgent(request: { agentId: string; publicKeyPem?: string }): Promise<EnrolmentBundle> {
    return enrollAgent(this.enrolmentContext(), this.service.agents, request);
  }

  /** A new key and certificate for a hub; its old certificate is refused from then on. */
  rotateHub(request: { hubId: string; publicKeyPem?: string }): Promise<EnrolmentBundle> {
    return rotateHub(this.enrolmentContext(), this.service, request);
  }

  /** A merchant's back office: a certificate for its signed event feed (the one before it is revoked). */
  enrollMerchantFeed(request: { merchantId: string }): Promise<EnrolmentBundle> {
    return enrollMerchantFeed(this.enrolmentContext(), this.service.revokedCertificates, request);
  }

  /** A person who acts from the console (operators/<name>): certificate and a login token shown once. */
  enrollOperator(request: { operatorId: string }): Promise<OperatorEnrolment> {
    return enrollOperator(this.enrolmentContext(), this.service.operators, request);
  }

  /** Binds glasses (their public key from pairing) to a wallet, for glasses payments and step-ups. */
  enrollGlasses(enrolment: GlassesEnrolment): void {
    enrollGlasses(this.service.database, this.registry, enrolment, this.clock.nowMs());
  }

  private enrolmentContext(): EnrolmentContext {
    return { pki: this.pki, registry: this.registry, clock: this.clock, random: this.random };
  }

  /**
   * Who may connect: enrolled, non-revoked hubs, wallets, agents and operators, and the service itself, each with a
   * certificate whose serial is not on the revoked list (a rotated hub's old certificate is).
   */
  private isActive(principal: Principal, certificateSerial: string | undefined): boolean {
    if (certificateSerial !== undefined && this.service.revokedCertificates.isRevoked(certificateSerial)) return false;
    const registry = this.service.registry;
    switch (principal.kind) {
      case "hub": {
        // Its current certificate, or the one it renewed (which switches it over); not one a later renewal replaced.
        const hub = registry.findHub(principal.id);
        if (hub?.status !== "active") return false;
        if (certificateSerial === undefined || normalSerial(certificateSerial) === normalSerial(hub.certificateSerial)) return true;
        return this.service.switchToRenewedKey(principal.id, certificateSerial);
      }
      case "wallet":
        return registry.findWallet(principal.id)?.status === "active";
      case "agent":
        return this.service.agents.findAgent(principal.id)?.status === "active";
      case "service":
        return principal.id === servicePrincipal.id;
      case "operator":
        return this.service.operators.find(principal.id)?.status === "active";
      case "merchant":
        return registry.findMerchant(principal.id) !== undefined;
      case "provider":
        return this.service.providers.find(principal.id)?.status === "active";
      default:
        return false;
    }
  }
}
