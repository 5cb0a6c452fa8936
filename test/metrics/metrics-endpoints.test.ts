import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { serveHubMetrics, tapHubMetered, type ServedHubMetrics } from "../../firmware-bridge/adapters/hub-metrics.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { SimulatedTapHub } from "../../simulator/scenarios/tap/simulated-tap-hub.ts";
import { TestStack } from "../e2e/stack.ts";
import { sample, scrape } from "../../console/prometheus-text.ts";
import { asSqlite } from "../../broker/ledger/sqlite-db.ts";

const waitMs = 10_000;

describe("the settlement node's and the hub's /metrics, /healthz and /readyz, scraped over HTTP", () => {
  let stack: TestStack | undefined;
  let hub: SimulatedTapHub | undefined;
  let hubMetrics: ServedHubMetrics | undefined;
  afterEach(async () => {
    await hubMetrics?.stop();
    await hub?.stop();
    await stack?.stop();
    hubMetrics = undefined;
    hub = undefined;
    stack = undefined;
  });

  async function startHub(): Promise<SimulatedTapHub> {
    const s = stack!;
    const bundles = await s.enrolDefaults();
    const started = new SimulatedTapHub({ brokerUrl: s.node.url, hub: bundles.hub, wallet: bundles.wallet, merchantId: "m1", journalFile: join(s.dataDir, "hub", "journal.sqlite") });
    hub = started;
    await started.start();
    await started.waitFor((view) => view.hub === "ready" && view.tap.state === "idle", waitMs);
    return started;
  }

  async function sell(h: SimulatedTapHub, amountMinor: number, atc: number): Promise<number> {
    h.setAmount(amountMinor, "EUR", "reader");
    await h.waitFor((view) => view.tap.state === "waitingForTap", waitMs);
    h.placePhone(h.hcePhone(atc));
    const final = await h.waitFor((view) => view.tap.state === "approved" || view.tap.state === "declined", waitMs);
    h.removePhone();
    await h.waitFor((view) => view.tap.state === "idle", waitMs);
    return final.tap.lastDecisionCode ?? 0;
  }

  /** One sale, watched until it ends (undefined) or the node's /readyz fails (its answer). */
  async function sellUntilUnready(h: SimulatedTapHub, atc: number): Promise<{ status: number; text: string } | undefined> {
    h.setAmount(100, "EUR", "reader");
    await h.waitFor((view) => view.tap.state === "waitingForTap", waitMs);
    h.placePhone(h.hcePhone(atc));
    for (let poll = 0; poll < 200; poll += 1) {
      const ready = await fetch(`${stack!.node.metricsUrl}/readyz`);
      if (ready.status !== 200) return { status: ready.status, text: await ready.text() };
      const state = h.snapshot().tap.state;
      if (state === "approved" || state === "declined") break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    h.removePhone();
    await h.waitFor((view) => view.tap.state === "idle", waitMs);
    return undefined;
  }

  it("counts decisions by code and their latency on the node, sales by outcome on the hub, both equal to what happened", async () => {
    stack = await TestStack.start({ metrics: { port: 0 } });
    const h = await startHub();
    const { hub: runtime, journal, readerProblem } = h.runtime;
    hubMetrics = await serveHubMetrics(tapHubMetered(runtime), journal, { reader: readerProblem }, { port: 0 });

    const codes = [await sell(h, 1_000, 1), await sell(h, 2_000, 2), await sell(h, 60_000, 3)];
    const node = await scrape(stack.node.metricsUrl!);
    const hubText = await scrape(hubMetrics.url);

    expect(codes).toEqual([0, 0, ErrorCode.LimitExceeded]);
    expect(sample(node, "tapwire_decisions_total", { status: "approved", code: "0" })).toBe(2);
    expect(sample(node, "tapwire_decisions_total", { status: "declined", code: String(ErrorCode.LimitExceeded), code_name: "LimitExceeded" })).toBe(1);
    expect(sample(node, "tapwire_decision_latency_seconds_count")).toBe(3);
    expect(sample(node, "tapwire_settlement_storage_ok")).toBe(1);
    expect(sample(node, "tapwire_settlement_queue_depth")).toBe(0);
    // Three sales one after another: at least three messages committed, in at most as many batches.
    expect(sample(node, "tapwire_settlement_batched_messages_total")).toBeGreaterThanOrEqual(3);
    expect(sample(node, "tapwire_settlement_batches_total")).toBeGreaterThanOrEqual(1);
    expect(sample(node, "tapwire_settlement_batches_total")).toBeLessThanOrEqual(sample(node, "tapwire_settlement_batched_messages_total"));
    expect(sample(node, "tapwire_broker_clients")).toBeGreaterThanOrEqual(2);
    expect(sample(hubText, "tapwire_hub_sales_total", { outcome: "approved" })).toBe(2);
    expect(sample(hubText, "tapwire_hub_sales_total", { outcome: "declined", code_name: "LimitExceeded" })).toBe(1);
    expect(sample(hubText, "tapwire_hub_sale_latency_seconds_count")).toBe(3);
    expect(sample(hubText, "tapwire_hub_link_ready")).toBe(1);
    expect(sample(hubText, "tapwire_hub_journal_pending_sales")).toBe(0);
    expect(sample(hubText, "tapwire_hub_reconnects_total")).toBe(0);
    expect((await fetch(`${stack.node.metricsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${stack.node.metricsUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${hubMetrics.url}/readyz`)).status).toBe(200);
  });

  it("fails /readyz while the ledger's storage refuses writes, and passes again when it takes them", async () => {
    stack = await TestStack.start({ metrics: { port: 0 } });
    const h = await startHub();
    const db = asSqlite(stack.node.service.database);
    // SQLite's own disk-full: the file may not grow past the pages it has now.
    db.pragma(`max_page_count = ${db.pragma("page_count", { simple: true }) as number}`);

    let during: { status: number; text: string } | undefined;
    for (let atc = 1; atc <= 40 && during === undefined; atc += 1) during = await sellUntilUnready(h, atc);
    const metricsDuring = await scrape(stack.node.metricsUrl!);
    db.pragma("max_page_count = 1073741823");
    // The refused sale's request is retried with the same bytes after the retry-after, and now settles.
    const settled = await h.waitFor((view) => view.tap.state === "approved", waitMs);
    const after = await fetch(`${stack.node.metricsUrl}/readyz`);

    expect(during).toMatchObject({ status: 503, text: expect.stringMatching(/^storage: SQLITE_FULL/) });
    expect(sample(metricsDuring, "tapwire_settlement_storage_ok")).toBe(0);
    expect(sample(metricsDuring, "tapwire_decisions_total", { code: String(ErrorCode.LedgerStorage) })).toBeGreaterThanOrEqual(1);
    expect(settled.tap.lastDecisionCode).toBe(0);
    expect(after.status).toBe(200);
  });

  it("answers only GET on its three paths", async () => {
    stack = await TestStack.start({ metrics: { port: 0 } });
    const base = stack.node.metricsUrl!;

    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);
    expect((await fetch(`${base}/other`)).status).toBe(404);
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
