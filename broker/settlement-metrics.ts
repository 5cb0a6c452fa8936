import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { errorCodeName } from "../protocol/errors.ts";
import type { SettlementService } from "./settlement/settlement-service.ts";

/** From a cached answer (~1 ms) to a hub's decision timeout (seconds). */
export const decisionLatencyBucketsS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the node exposes besides the service: its MQTT edge and broker. */
export interface NodeGauges {
  service(): SettlementService | undefined;
  droppedAtEdge(): number;
  brokerClients(): number;
  linkConnected(): boolean;
}

/**
 * The settlement node's Prometheus metrics, on a registry of its own. Counters the node feeds as things happen
 * (decisions, latency, broker refusals); the rest is read from the service when scraped, so a scrape costs a few
 * COUNT queries and never touches the request path.
 */
export class SettlementMetrics {
  readonly registry = new Registry();
  private readonly decisions: Counter<"status" | "code" | "code_name">;
  private readonly latency: Histogram;
  private readonly refusals: Counter<"code" | "code_name">;

  constructor(gauges: NodeGauges) {
    const registers = [this.registry];
    this.decisions = new Counter({ name: "tapwire_decisions_total", help: "Signed decisions by status and code", labelNames: ["status", "code", "code_name"], registers });
    this.latency = new Histogram({
      name: "tapwire_decision_latency_seconds",
      help: "From a request reaching the service link to its answer being durable",
      buckets: decisionLatencyBucketsS,
      registers,
    });
    this.refusals = new Counter({ name: "tapwire_broker_refusals_total", help: "Connections, publishes and subscriptions the broker refused", labelNames: ["code", "code_name"], registers });
    registerServiceGauges(this.registry, gauges);
  }

  decided(decision: { status: string; code: number }): void {
    this.decisions.inc({ status: decision.status, code: String(decision.code), code_name: decision.code === 0 ? "" : errorCodeName(decision.code) });
  }

  answeredAfter(latencyMs: number): void {
    this.latency.observe(latencyMs / 1000);
  }

  refused(code: number): void {
    this.refusals.inc({ code: String(code), code_name: errorCodeName(code) });
  }
}

function registerServiceGauges(registry: Registry, gauges: NodeGauges): void {
  const registers = [registry];
  const fromService = (read: (service: SettlementService) => number) => () => {
    const service = gauges.service();
    return service === undefined ? 0 : read(service);
  };
  gauge(registers, "tapwire_settlement_queue_depth", "Requests waiting for the drain loop", fromService((s) => s.queueLength));
  counter(registers, "tapwire_settlement_shed_answered_total", "Requests refused at admission with a signed Overloaded", fromService((s) => s.shedCounts.answered));
  counter(registers, "tapwire_settlement_shed_unanswered_total", "Requests refused at admission without an answer", fromService((s) => s.shedCounts.unanswered));
  counter(registers, "tapwire_settlement_batches_total", "Group-commit transactions committed", fromService((s) => s.commitCounts.batches));
  counter(registers, "tapwire_settlement_batched_messages_total", "Messages committed in them (divided by the batches: the mean batch)", fromService((s) => s.commitCounts.messages));
  counter(registers, "tapwire_settlement_dropped_at_edge_total", "Requests dropped at the service link's in-flight bound", gauges.droppedAtEdge);
  gauge(registers, "tapwire_settlement_push_outbox_depth", "Operator and expiry decisions not yet published", fromService((s) => countOf(s, "SELECT COUNT(*) FROM review_pushes WHERE sent_at_ms IS NULL")));
  gauge(registers, "tapwire_settlement_review_pending", "Review cases, step-ups and disputes waiting", fromService((s) => countOf(s, "SELECT COUNT(*) FROM review_cases WHERE status = 'pending'")));
  gauge(registers, "tapwire_settlement_storage_ok", "1 while the ledger's storage takes writes, 0 while it refuses them", fromService((s) => (s.storageHealth.state === "ok" ? 1 : 0)));
  gauge(registers, "tapwire_broker_clients", "Clients connected to the embedded broker", gauges.brokerClients);
  gauge(registers, "tapwire_settlement_link_connected", "1 while the service's link to the broker is up", () => (gauges.linkConnected() ? 1 : 0));
}

function countOf(service: SettlementService, sql: string): number {
  return service.database.prepare(sql).pluck().get() as number;
}

function gauge(registers: Registry[], name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers,
    collect() {
      this.set(read());
    },
  });
}

/** A monotonic count the service keeps itself, exposed as a counter (so rate() works). */
function counter(registers: Registry[], name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
