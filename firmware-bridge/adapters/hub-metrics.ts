import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { HubJournal } from "../../device/journal/hub-journal.ts";
import type { JournalSale } from "../../device/journal/journal-records.ts";
import type { TapHub, TapHubView } from "../../device/tap-hub.ts";
import { assert } from "../../core/assert.ts";
import { errorCodeName } from "../../protocol/errors.ts";
import { HealthEndpoint } from "../../core/health-endpoint.ts";
import type { HealthCheck } from "../systemd/service-watchdog.ts";
import type { GlassesHubAssembly } from "./glasses-hub-assembly.ts";

/** From a tap to the LED: a sale answered at once takes ~50 ms, one the service holds or retries seconds. */
export const saleLatencyBucketsS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** A sale's outcome as a hub's metrics count it. */
export interface MeteredSale {
  outcome: string;
  code: number;
  /** From the request journaled to the outcome, when the hub knows it. */
  latencyMs: number | undefined;
}

/** What HubMetrics reads from a hub (a tap hub: tapHubMetered; a glasses hub: its assembly). */
export interface MeteredHub {
  onSale(listener: (sale: MeteredSale) => void): () => void;
  linkReady(): boolean;
  /** Calls back on every change of the link or the reader; returns the unsubscribe. */
  onChange(listener: (state: { linkReady: boolean; readerPresent: boolean }) => void): () => void;
}

/** A tap hub as its metrics see it: sales from the journal (so one resolved after a restart counts once, then). */
export function tapHubMetered(hub: TapHub): MeteredHub {
  const stateOf = (view: TapHubView) => ({ linkReady: view.hub === "ready", readerPresent: view.tap.readerPresent });
  return {
    onSale: (listener) => hub.onSale((sale: JournalSale) => listener({ outcome: sale.outcome, code: sale.code, latencyMs: sale.resolvedAtMs === undefined ? undefined : Math.max(0, sale.resolvedAtMs - sale.createdAtMs) })),
    linkReady: () => hub.started && hub.view().hub === "ready",
    onChange: (listener) => {
      listener(stateOf(hub.view()));
      return hub.subscribe((view) => listener(stateOf(view)));
    },
  };
}

/**
 * A glasses hub as its metrics see it: purchase outcomes (no journal times at hand, so no latency) and whether the
 * settlement link is up, read when scraped (the assembly tells no one of link changes, so no reconnect count).
 */
export function glassesHubMetered(assembly: Pick<GlassesHubAssembly, "onOutcome" | "online">): MeteredHub {
  return {
    onSale: (listener) => assembly.onOutcome((outcome) => listener({ outcome: outcome.kind, code: outcome.code, latencyMs: undefined })),
    linkReady: () => assembly.online,
    onChange: () => () => undefined,
  };
}

/**
 * A hub's Prometheus metrics, on a registry of its own: sales by outcome and code with their latency, link
 * reconnects, reader losses; journal depth and the offline backlog read when scraped.
 */
export class HubMetrics {
  readonly registry = new Registry();
  private readonly sales: Counter<"outcome" | "code" | "code_name">;
  private readonly latency: Histogram;
  private readonly reconnects: Counter;
  private readonly readerErrors: Counter;
  private unsubscribes: Array<() => void> = [];
  private last: { linkReady: boolean; readerPresent: boolean } | undefined;
  private everReady = false;

  constructor(
    private readonly hub: MeteredHub,
    journal: HubJournal,
  ) {
    const registers = [this.registry];
    this.sales = new Counter({ name: "tapwire_hub_sales_total", help: "Sales by outcome and decision code", labelNames: ["outcome", "code", "code_name"], registers });
    this.latency = new Histogram({ name: "tapwire_hub_sale_latency_seconds", help: "From a sale's request journaled to its outcome", buckets: saleLatencyBucketsS, registers });
    this.reconnects = new Counter({ name: "tapwire_hub_reconnects_total", help: "Times the settlement link came back after being ready", registers });
    this.readerErrors = new Counter({ name: "tapwire_hub_reader_errors_total", help: "Times the reader (NFC, or the glasses' link) went away", registers });
    const read = (name: string, help: string, value: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value());
        },
      });
    read("tapwire_hub_journal_pending_sales", "Sales journaled without an outcome yet", () => journal.pendingSales().length);
    read("tapwire_hub_offline_backlog", "Offline captures the service has not settled", () => journal.offlineBacklog().count);
    read("tapwire_hub_offline_backlog_minor", "Their total, in minor units", () => journal.offlineBacklog().totalMinor);
    read("tapwire_hub_link_ready", "1 while the settlement link is ready", () => (this.hub.linkReady() ? 1 : 0));
  }

  start(): void {
    assert(this.unsubscribes.length === 0, "HubMetrics started twice");
    this.unsubscribes = [this.hub.onChange((state) => this.changed(state)), this.hub.onSale((sale) => this.sold(sale))];
  }

  stop(): void {
    for (const unsubscribe of this.unsubscribes) unsubscribe();
    this.unsubscribes = [];
  }

  private sold(sale: MeteredSale): void {
    this.sales.inc({ outcome: sale.outcome, code: String(sale.code), code_name: sale.code === 0 ? "" : errorCodeName(sale.code) });
    if (sale.latencyMs !== undefined) this.latency.observe(sale.latencyMs / 1000);
  }

  private changed(state: { linkReady: boolean; readerPresent: boolean }): void {
    const last = this.last;
    this.last = state;
    if (state.linkReady && !(last?.linkReady ?? false)) {
      if (this.everReady) this.reconnects.inc();
      this.everReady = true;
    }
    if (last !== undefined && last.readerPresent && !state.readerPresent) this.readerErrors.inc();
  }
}

export interface ServedHubMetrics {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * `/metrics`, `/healthz` and `/readyz` for a running hub: ready while the settlement link is ready and every
 * watchdog check (reader answering, journal writable) passes.
 */
export async function serveHubMetrics(
  hub: MeteredHub,
  journal: HubJournal,
  checks: Record<string, HealthCheck>,
  listen: { port: number; host?: string },
): Promise<ServedHubMetrics> {
  const metrics = new HubMetrics(hub, journal);
  const readiness = () => {
    const problems: Record<string, string> = {};
    for (const [name, check] of Object.entries(checks)) {
      const problem = check();
      if (problem !== undefined) problems[name] = problem;
    }
    if (!hub.linkReady()) problems["link"] = "settlement link not ready";
    return problems;
  };
  const endpoint = new HealthEndpoint({ registry: metrics.registry, readiness, ...listen });
  await endpoint.start();
  metrics.start();
  return {
    url: endpoint.url,
    async stop() {
      metrics.stop();
      await endpoint.stop();
    },
  };
}
