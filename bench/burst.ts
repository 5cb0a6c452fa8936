/**
 * `npm run bench -- --burst [--factor N] [--burst-seconds S] [--hubs H] [--no-admission] [--json PATH]`: the settlement
 * node (this process: embedded aedes over mTLS, the service on SQLite) under N× its own measured capacity for a
 * bounded time. Prints approved/s, shed/s, the answer time of accepted and of shed requests, and the node's peak RSS;
 * `--no-admission` lifts every admission bound, to show what a burst does without them. A campaign is live during the
 * burst with a budget smaller than its approvals: the table shows spent against budget.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { SettlementNode } from "../broker/settlement-node.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { campaignCountMax } from "../broker/campaigns/campaign-definition.ts";
import type { BurstGeneratorReport, BurstMessage, BurstSetup } from "./burst-protocol.ts";
import { loadAverage1m, machineInfo, type MachineInfo } from "./report.ts";
import { amountMinor, currency, enrolHubs, merchantId } from "./settlement-under-load.ts";

export interface BurstOptions {
  factor: number;
  burstSeconds: number;
  hubs: number;
  admission: boolean;
  jsonPath: string | undefined;
}

export interface BurstReport {
  startedAt: string;
  machine: MachineInfo;
  options: BurstOptions;
  generator: BurstGeneratorReport;
  node: { rssMbBefore: number; rssMbPeak: number; rssMbAfter: number; shed: { answered: number; unanswered: number }; droppedAtEdge: number };
  ledger: { consistent: boolean; paymentTransfers: number };
  campaign: { budgetMinor: number; spentMinor: number; discounts: number };
}

const connectTimeoutMs = 20_000;
const campaignIdOfBurst = "burst-promo";
const campaignOffMinor = 10;
/** 1 500 discounts: fewer than the approvals of any burst this bench makes, so the budget runs out mid-burst. */
const campaignBudgetMinor = 15_000;
const decisionTimeoutMs = 10_000;
const rssSampleMs = 50;
/** Above any burst this bench makes: lifts the bounds without changing any other behaviour. */
const unbounded = 1_000_000;

function parseBurstOptions(argv: string[]): BurstOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      burst: { type: "boolean" },
      factor: { type: "string" },
      "burst-seconds": { type: "string" },
      hubs: { type: "string" },
      "no-admission": { type: "boolean" },
      json: { type: "string" },
    },
    strict: true,
  });
  const integer = (name: string, raw: string | undefined, fallback: number, min: number, max: number) => {
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new TapwireError(`--${name} must be an integer between ${min} and ${max}, got ${raw}`, ErrorCode.ConfigInvalid);
    }
    return value;
  };
  return {
    factor: integer("factor", values.factor, 10, 1, 50),
    burstSeconds: integer("burst-seconds", values["burst-seconds"], 10, 1, 60),
    hubs: integer("hubs", values.hubs, 64, 1, 500),
    admission: values["no-admission"] !== true,
    jsonPath: values.json,
  };
}

function rssMb(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

function next(child: ChildProcess, timeoutMs: number): Promise<BurstMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new TapwireError(`burst generator silent for ${timeoutMs} ms`, ErrorCode.DecisionTimeout)), timeoutMs);
    child.once("message", (message) => {
      clearTimeout(timer);
      const received = message as BurstMessage;
      if (received.type === "failed") reject(new TapwireError(`burst generator failed: ${received.message}`, ErrorCode.Offline));
      else resolve(received);
    });
  });
}

export async function runBurst(options: BurstOptions): Promise<BurstReport> {
  const startedAt = new Date().toISOString();
  const loadBefore = loadAverage1m();
  const dataDir = mkdtempSync(join(tmpdir(), "tapwire-burst-"));
  const node = new SettlementNode({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    ...(options.admission ? {} : { settlement: { queueMax: unbounded, queuedPerSenderMax: unbounded, queueWaitMsMax: 600_000 }, handlerCallsInFlightMax: unbounded }),
  });
  let child: ChildProcess | undefined;
  let sampler: NodeJS.Timeout | undefined;
  try {
    await node.start();
    const burstRequestsMax = 200_000;
    const hubs = await enrolHubs(node, { hubs: options.hubs, payments: burstRequestsMax * 2 });
    const rssMbBefore = rssMb();
    let rssMbPeak = rssMbBefore;
    sampler = setInterval(() => (rssMbPeak = Math.max(rssMbPeak, rssMb())), rssSampleMs);
    child = fork(new URL("./burst-generator.ts", import.meta.url), [], { execArgv: process.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const setup: BurstSetup = {
      url: node.url,
      caPem: node.pki.ca.certPem,
      servicePublicKeyPem: node.service.publicKey.export({ type: "spki", format: "pem" }).toString(),
      currency,
      amountMinor,
      hubs,
      inFlightPerHubMax: burstRequestsMax,
      connectTimeoutMs,
      decisionTimeoutMs,
      requestLifetimeMs: 60_000,
      calibrationLanes: 8,
      calibrationMs: 3_000,
      calibrationRequestsMax: 30_000,
      factor: options.factor,
      burstMs: options.burstSeconds * 1_000,
      burstRequestsMax,
    };
    child.send(setup);
    const started = await next(child, 5 * 60_000);
    if (started.type !== "burst-start") throw new TapwireError(`expected burst-start, got ${started.type}`, ErrorCode.Offline);
    // Live during the burst: its budget runs out part-way, so the guard is what keeps spent ≤ budget.
    const startedMs = Date.now();
    node.service.campaigns.add(
      {
        campaignId: campaignIdOfBurst,
        merchantId,
        currency,
        rule: { kind: "amount_off", offMinor: campaignOffMinor },
        budgetMinor: campaignBudgetMinor,
        startsAtMs: startedMs - 1_000,
        endsAtMs: startedMs + 3_600_000,
        perCustomerMax: campaignCountMax,
      },
      "bench",
    );
    // The calibration's payments are settled by now (closed loop): count the burst's alone.
    const transfersBefore = node.service.ledger.transferCount();
    const done = await next(child, options.burstSeconds * 1_000 + decisionTimeoutMs * 3);
    if (done.type !== "done") throw new TapwireError(`expected done, got ${done.type}`, ErrorCode.Offline);
    node.service.ledger.checkInvariants();
    const approved = done.report.answersByCode["approved"] ?? 0;
    const campaign = node.service.campaigns.get(campaignIdOfBurst);
    const discounts = campaign.spentMinor / campaignOffMinor;
    // Each discounted payment posts a second transfer (campaign account → merchant).
    const paymentTransfers = node.service.ledger.transferCount() - transfersBefore - discounts;
    return {
      startedAt,
      machine: machineInfo(loadBefore),
      options,
      generator: done.report,
      node: { rssMbBefore, rssMbPeak, rssMbAfter: rssMb(), shed: node.service.shedCounts, droppedAtEdge: node.droppedAtEdge },
      // Every approved answer is one payment transfer; an approval whose answer was lost (timed out) still is one.
      ledger: { consistent: paymentTransfers >= approved && paymentTransfers <= approved + done.report.unanswered, paymentTransfers },
      campaign: { budgetMinor: campaign.budgetMinor, spentMinor: campaign.spentMinor, discounts },
    };
  } finally {
    clearInterval(sampler);
    child?.kill();
    await node.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function renderBurst(report: BurstReport): string {
  const { generator: g, node, machine, options } = report;
  const seconds = g.elapsedMs / 1_000;
  const rate = (count: number) => `${Math.round(count / seconds).toLocaleString("en-US")}/s`;
  const shedAnswered = (g.answersByCode["Overloaded"] ?? 0) + (g.answersByCode["LedgerStorage"] ?? 0);
  const rows: Array<[string, string]> = [
    ["measured capacity (closed loop)", `${Math.round(g.capacityPerSecond).toLocaleString("en-US")}/s`],
    [`burst rate (${options.factor}×, ${options.burstSeconds} s)`, `${g.ratePerSecond.toLocaleString("en-US")}/s, ${g.sent.toLocaleString("en-US")} requests`],
    ["approved (over the burst's run)", `${rate(g.answersByCode["approved"] ?? 0)} (${(g.answersByCode["approved"] ?? 0).toLocaleString("en-US")})`],
    ["goodput (approved until the last approval)", `${Math.round(((g.answersByCode["approved"] ?? 0) * 1_000) / Math.max(g.approvingMs, 1)).toLocaleString("en-US")}/s, ${Math.round(((g.answersByCode["approved"] ?? 0) * 1_000 * 100) / Math.max(g.approvingMs, 1) / Math.max(g.capacityPerSecond, 1))} % of capacity`],
    ["shed with a signed answer", `${rate(shedAnswered)} (${shedAnswered.toLocaleString("en-US")}; ${g.retryAfterGiven.toLocaleString("en-US")} with retry-after)`],
    ["unanswered within the decision timeout", g.unanswered.toLocaleString("en-US")],
    ["answer time, approved p50 / p99", `${Math.round(g.approvedLatency.p50Ms)} / ${Math.round(g.approvedLatency.p99Ms)} ms`],
    ["answer time, shed p50 / p99", `${Math.round(g.shedLatency.p50Ms)} / ${Math.round(g.shedLatency.p99Ms)} ms`],
    ["node RSS before / peak / after", `${Math.round(node.rssMbBefore)} / ${Math.round(node.rssMbPeak)} / ${Math.round(node.rssMbAfter)} MB`],
    ["other answers", JSON.stringify(Object.fromEntries(Object.entries(g.answersByCode).filter(([code]) => !["approved", "Overloaded", "LedgerStorage"].includes(code))))],
    ["ledger", report.ledger.consistent ? `balanced, ${report.ledger.paymentTransfers} payment transfers` : "INCONSISTENT"],
    ["campaign spent / budget", `${report.campaign.spentMinor} / ${report.campaign.budgetMinor} minor (${report.campaign.discounts} discounts of ${campaignOffMinor})${report.campaign.spentMinor > report.campaign.budgetMinor ? " OVERSPENT" : ""}`],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return [
    `tapwire burst — ${options.hubs} hubs, admission ${options.admission ? "on" : "OFF"}; embedded aedes over mTLS on 127.0.0.1, SQLite WAL synchronous=FULL`,
    `machine: ${machine.cpuModel} × ${machine.cpuCount}, node ${machine.nodeVersion}; 1-min load average ${machine.loadAverage1mBefore.toFixed(2)} before`,
    ...rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`),
  ].join("\n");
}

export async function burstCommand(argv: string[]): Promise<number> {
  const options = parseBurstOptions(argv);
  const report = await runBurst(options);
  console.log(renderBurst(report));
  const jsonPath = options.jsonPath ?? join(dirname(new URL(import.meta.url).pathname), "results", `burst-${report.startedAt.replace(/[:.]/g, "-")}.json`);
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nJSON: ${jsonPath}`);
  return report.ledger.consistent ? 0 : 1;
}
