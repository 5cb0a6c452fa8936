import { logger } from "../core/log.ts";
import { systemClock, systemTimers, type Clock, type Timers } from "../core/sources.ts";
import { samples } from "./prometheus-text.ts";

const log = logger("tapwire:console");

export const chartIntervalMsDefault = 2_000;
/** Five minutes at the default interval. */
export const chartPointsMax = 150;

/** One interval of the charts: rates per second over it, and the p99 of the decisions answered in it. */
export interface ChartPoint {
  atMs: number;
  approvedPerSecond: number;
  /** undefined when no decision was answered in the interval. */
  p99LatencyMs: number | undefined;
  shedPerSecond: number;
  declinedPerSecondByCode: Record<string, number>;
}

export interface ChartsView {
  /** Where the numbers come from, or why there are none. */
  source: string;
  intervalMs: number;
  points: ChartPoint[];
}

interface Totals {
  atMs: number;
  approved: number;
  shed: number;
  declinedByCode: Map<string, number>;
  latencyBuckets: Array<{ le: number; count: number }>;
}

/**
 * The console's charts: the node's `/metrics` (read in-process, or scraped from `--metrics-url`) sampled every
 * interval, differences turned into per-second rates and an interval p99, the last chartPointsMax kept.
 */
export class MetricsHistory {
  private readonly points: ChartPoint[] = [];
  private last: Totals | undefined;
  private timer: unknown;
  private stopped = false;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly intervalMs: number;

  constructor(
    private readonly options: { read: () => Promise<string>; source: string; intervalMs?: number; clock?: Clock; timers?: Timers },
  ) {
    this.clock = options.clock ?? systemClock;
    this.timers = options.timers ?? systemTimers;
    this.intervalMs = options.intervalMs ?? chartIntervalMsDefault;
  }

  start(): void {
    void this.sample();
  }

  stop(): void {
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.stopped = true;
  }

  view(): ChartsView {
    return { source: this.options.source, intervalMs: this.intervalMs, points: [...this.points] };
  }

  /** One sample; the next is scheduled after it, so a slow scrape never overlaps the one before. */
  private async sample(): Promise<void> {
    try {
      this.add(totalsOf(await this.options.read(), this.clock.nowMs()));
    } catch (error) {
      log.debug({ err: (error as Error).message }, "console could not read the node's metrics");
    }
    if (!this.stopped) this.timer = this.timers.setTimeout(() => void this.sample(), this.intervalMs);
  }

  private add(now: Totals): void {
    const before = this.last;
    this.last = now;
    if (before === undefined || now.atMs <= before.atMs) return;
    const seconds = (now.atMs - before.atMs) / 1000;
    // A node restart resets its counters: that interval shows nothing rather than a negative rate.
    const rate = (a: number, b: number) => Math.max(0, a - b) / seconds;
    const declined: Record<string, number> = {};
    for (const [code, count] of now.declinedByCode) {
      const perSecond = rate(count, before.declinedByCode.get(code) ?? 0);
      if (perSecond > 0) declined[code] = perSecond;
    }
    this.points.push({
      atMs: now.atMs,
      approvedPerSecond: rate(now.approved, before.approved),
      p99LatencyMs: intervalQuantile(before.latencyBuckets, now.latencyBuckets, 0.99),
      shedPerSecond: rate(now.shed, before.shed),
      declinedPerSecondByCode: declined,
    });
    if (this.points.length > chartPointsMax) this.points.shift();
  }
}

function totalsOf(text: string, atMs: number): Totals {
  let approved = 0;
  const declinedByCode = new Map<string, number>();
  for (const { labels, value } of samples(text, "tapwire_decisions_total")) {
    if (labels["status"] === "approved") approved += value;
    else if (labels["status"] === "declined") {
      const code = labels["code_name"] || "declined";
      declinedByCode.set(code, (declinedByCode.get(code) ?? 0) + value);
    }
  }
  const shed = ["tapwire_settlement_shed_answered_total", "tapwire_settlement_shed_unanswered_total", "tapwire_settlement_dropped_at_edge_total"]
    .flatMap((name) => samples(text, name))
    .reduce((total, found) => total + found.value, 0);
  const latencyBuckets = samples(text, "tapwire_decision_latency_seconds_bucket")
    .map(({ labels, value }) => ({ le: labels["le"] === "+Inf" ? Infinity : Number(labels["le"]), count: value }))
    .sort((a, b) => a.le - b.le);
  return { atMs, approved, shed, declinedByCode, latencyBuckets };
}

/** The bucket bound (ms) under which `q` of the interval's observations fall, as Prometheus' histogram_quantile would bound it. */
function intervalQuantile(before: Totals["latencyBuckets"], now: Totals["latencyBuckets"], q: number): number | undefined {
  const deltas = now.map((bucket) => ({ le: bucket.le, count: bucket.count - (before.find((b) => b.le === bucket.le)?.count ?? 0) }));
  const total = deltas.at(-1)?.count ?? 0;
  if (total <= 0) return undefined;
  const found = deltas.find((bucket) => bucket.count >= q * total);
  const le = found?.le ?? Infinity;
  // Above the last finite bound: report that bound, the most the histogram can say.
  const finite = Number.isFinite(le) ? le : (deltas.filter((b) => Number.isFinite(b.le)).at(-1)?.le ?? 0);
  return finite * 1000;
}
