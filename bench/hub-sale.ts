/**
 * What one sale costs the hub: the real tap hub runtime (machines, PN532 driver over the virtual serial binding,
 * journal, outbox, mTLS MQTT link, decision verification) in a process of its own, selling back to back against a
 * settlement node in the parent. The child's CPU per sale includes the virtual hardware it hosts (the PN532 answering
 * frames, the phone signing its cryptogram), so it is an upper bound on the runtime's own share.
 *
 * Run alone: `npx tsx bench/hub-sale.ts [--sales N] [--profile]`; `npm run bench` runs it with its stages.
 */
import { fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { EnrolmentBundle } from "../broker/enrolment.ts";
import { SettlementNode } from "../broker/settlement-node.ts";
import { CpuProfile, type ProfileSummary } from "./profile.ts";

export interface HubSaleResult {
  sales: number;
  /** Hub process CPU (user + system, all threads) per approved sale, in µs. */
  cpuUsPerSale: number;
  /** Of which system time (the kernel: fsync of the journal's two durable commits, TLS socket writes), in µs. */
  systemUsPerSale: number;
  /** Wall time per sale, from keying the amount to the approval on the display, in ms (p50 of the run). */
  wallMsPerSaleP50: number;
  /** Share of one core the hub spends while idle, waiting for the next sale (polling the reader, keepalives). */
  idleCoreShare: number;
  /** With `profile`: where the hub process's time went during the measured sales. */
  profile?: ProfileSummary;
}

interface ChildSetup {
  brokerUrl: string;
  hub: EnrolmentBundle;
  wallet: EnrolmentBundle;
  journalFile: string;
  sales: number;
  deadlineMs: number;
  profile: boolean;
}

export const hubSalesDefault = 200;
const saleWaitMs = 10_000;
const warmUpSales = 20;
const idleMeasuredMs = 3_000;
const runMsMax = 120_000;

/** The child: one real hub, `sales` sales in a row, then its CPU per sale. */
async function sellInChild(setup: ChildSetup): Promise<HubSaleResult> {
  // Imported here, in the child only: the hub's GPIO driver loads johnny-five, whose REPL module loads node:domain,
  // which wraps every EventEmitter and every native callback of the process that loads it. The bench's parent runs
  // the settlement node, and `tapwire settle` never loads it.
  const { SimulatedTapHub } = await import("../simulator/scenarios/tap/simulated-tap-hub.ts");
  const hub = new SimulatedTapHub({
    brokerUrl: setup.brokerUrl,
    hub: setup.hub,
    wallet: setup.wallet,
    merchantId: "m1",
    journalFile: setup.journalFile,
    // Back to back, as at a busy counter: the result screen is not held (the default keeps it 3 s).
    timing: { resultDisplayMs: 0 },
  });
  await hub.start();
  await hub.waitFor((view) => view.hub === "ready" && view.tap.online && view.tap.state === "idle", saleWaitMs);
  const phone = hub.hcePhone();
  const sell = async (sale: number): Promise<number> => {
    const startedMs = performance.now();
    hub.setAmount(100, "EUR", "reader");
    await hub.waitFor((view) => view.tap.state === "waitingForTap", saleWaitMs);
    hub.placePhone(phone);
    const done = await hub.waitFor((view) => view.tap.state === "approved" || view.tap.state === "declined", saleWaitMs);
    if (done.tap.state !== "approved") throw new Error(`sale ${sale} ended ${done.tap.state}`);
    hub.removePhone();
    await hub.waitFor((view) => view.tap.state === "idle", saleWaitMs);
    return performance.now() - startedMs;
  };
  // Warm-up: modules loaded on first use, JIT, the journal's first pages; not a sale a hub pays for again.
  for (let sale = 0; sale < warmUpSales; sale += 1) await sell(sale);
  // Waiting for the next customer: what the hub burns with nothing to do (polling the reader, link keepalive).
  const idleBefore = process.cpuUsage();
  const idleStartedMs = performance.now();
  await new Promise((resolve) => setTimeout(resolve, idleMeasuredMs));
  const idleSpent = process.cpuUsage(idleBefore);
  const idleCoreShare = (idleSpent.user + idleSpent.system) / 1_000 / (performance.now() - idleStartedMs);
  const wallMs: number[] = [];
  const profile = setup.profile ? new CpuProfile() : undefined;
  await profile?.start();
  const before = process.cpuUsage();
  for (let sale = 0; sale < setup.sales && Date.now() < setup.deadlineMs; sale += 1) wallMs.push(await sell(sale));
  const spent = process.cpuUsage(before);
  const profiled = await profile?.stop();
  await hub.stop();
  wallMs.sort((a, b) => a - b);
  const sold = Math.max(1, wallMs.length);
  return {
    sales: wallMs.length,
    cpuUsPerSale: (spent.user + spent.system) / sold,
    systemUsPerSale: spent.system / sold,
    wallMsPerSaleP50: wallMs[Math.floor(wallMs.length / 2)] ?? 0,
    idleCoreShare,
    ...(profiled ? { profile: profiled } : {}),
  };
}

/** The parent: a settlement node, merchant m1, hub h1, a funded wallet; the hub sells in a forked process. */
export async function measureHubSale(sales = hubSalesDefault, profile = false): Promise<HubSaleResult> {
  const dataDir = mkdtempSync(join(tmpdir(), "tapwire-hub-sale-"));
  const node = new SettlementNode({ dataDir, port: 0 });
  try {
    await node.start();
    node.registry.enrollMerchant({ merchantId: "m1", currency: "EUR" });
    const hub = await node.enrollHub({ hubId: "h1", merchantId: "m1" });
    const wallet = await node.enrollWallet({ walletId: "w1", currency: "EUR", perPaymentMaxMinor: 50_000 });
    node.registry.fundWallet("w1", (sales + warmUpSales) * 100 + 1_000);
    const setup: ChildSetup = { brokerUrl: node.url, hub, wallet, journalFile: join(dataDir, "hub-journal.sqlite"), sales, deadlineMs: Date.now() + runMsMax, profile };
    const child = fork(fileURLToPath(import.meta.url), ["--child"], { execArgv: ["--import", "tsx"], env: { ...process.env, TAPWIRE_LOG: "fatal" } });
    return await new Promise<HubSaleResult>((resolve, reject) => {
      child.once("message", (result) => resolve(result as HubSaleResult));
      child.once("exit", (code) => reject(new Error(`hub-sale child exited ${code} without a result`)));
      child.send(setup);
    });
  } finally {
    await node.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv.includes("--child")) {
  process.once("message", (setup) => {
    void sellInChild(setup as ChildSetup).then((result) => {
      process.send?.(result, () => process.exit(0));
    });
  });
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const index = process.argv.indexOf("--sales");
  const sales = index > 0 ? Number(process.argv[index + 1]) : hubSalesDefault;
  if (!Number.isSafeInteger(sales) || sales < 1 || sales > 10_000) throw new Error("--sales must be 1..10000");
  const result = await measureHubSale(sales, process.argv.includes("--profile"));
  if (result.profile) console.log(JSON.stringify(result.profile, null, 1));
  console.log(`hub sale: ${result.sales} sales, ${result.cpuUsPerSale.toFixed(0)} CPU µs per sale (${result.systemUsPerSale.toFixed(0)} of it system; hub process incl. virtual PN532 and phone), p50 ${result.wallMsPerSaleP50.toFixed(1)} ms per sale; idle ${(result.idleCoreShare * 100).toFixed(1)}% of a core`);
}
