import { mkdtempSync, rmSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SettlementNode } from "../broker/settlement-node.ts";
import { merchantAccountId } from "../broker/ledger/ledger.ts";
import { assert } from "../core/assert.ts";
import type { InvariantReport } from "../broker/ledger/ledger.ts";
import { atcMax } from "../simulator/hub-client/sim-wallet.ts";
import { wholeRunCounts, type CpuSpent, type GeneratorReport, type HubIdentity, type SetupMessage } from "./generator-protocol.ts";
import { GeneratorProcess } from "./generator-process.ts";
import type { BenchOptions } from "./options.ts";
import type { ScaleOutSide } from "./scale-out-under-load.ts";
import { CpuProfile, type ProfileSummary } from "./profile.ts";
import { CpuMeter } from "./stats.ts";
import { MachineStallMeter, type MachineStalls } from "./machine-stalls.ts";
import { scrapedCounts, type ScrapedCounts } from "./scraped-counts.ts";

const rssSampleMs = 100;
/** The event-loop delay histogram's sampling period: a stall shorter than it is not seen. */
const loopDelayResolutionMs = 10;

/** How long the node's event loop was held up during the load (a request arriving then waits at least that long). */
export interface LoopDelay {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface LoadResult {
  generator: GeneratorReport;
  /**
   * Embedded (--broker embedded): the settlement process, i.e. aedes broker, ServiceLink, SettlementService, SQLite.
   * rssPeakMb: the settlement node's resident memory at its highest during the load (sampled every 100 ms).
   */
  node?: { cpu: CpuSpent; rssPeakMb: number; loopDelay: LoopDelay; profile?: ProfileSummary };
  /** Scale-out (--broker mosquitto): workers, Mosquitto and PostgreSQL, each measured from /proc. */
  scaleOut?: ScaleOutSide;
  /** How late a process that only sleeps woke during the load: the machine's own stalls, beside the node's and generator's. */
  machineStalls: MachineStalls;
  connectMs: number;
  /** paymentsOnce: no payment transfer's reference twice (checked where the store is shared by several workers). */
  ledger: { invariants: InvariantReport; paymentTransfers: number; merchantBalanceMinor: number; consistent: boolean; paymentsOnce?: boolean };
  /** The settlement side's /metrics after the load (every worker's added up), against the generator's own counts. */
  scraped: ScrapedCounts;
}

export const currency = "EUR";
export const merchantId = "m1";
export const amountMinor = 100;
const connectTimeoutMs = 20_000;
const decisionTimeoutMs = 10_000;

/**
 * Wallets per hub so that even a hub (or one of its `lanes`, each with wallets of its own) doing twice its share of
 * the payments never runs out of ATCs.
 */
export function walletsPerHub(payments: number, hubs: number, lanes = 1): number {
  return lanes * Math.max(1, Math.ceil((2 * payments) / (hubs * lanes * atcMax)));
}

/** Payments a run may send in all: a warm-up may send as many again as the measured load (it has the same count bound). */
export function paymentsSentMax(options: Pick<BenchOptions, "payments" | "warmupSeconds">): number {
  return options.payments * (options.warmupSeconds > 0 ? 2 : 1);
}

export async function enrolHubs(node: SettlementNode, options: Pick<BenchOptions, "hubs" | "payments">, lanes = 1): Promise<HubIdentity[]> {
  node.registry.enrollMerchant({ merchantId, currency });
  const identities: HubIdentity[] = [];
  const walletCount = walletsPerHub(options.payments, options.hubs, lanes);
  for (let index = 1; index <= options.hubs; index += 1) {
    const hubId = `h${index}`;
    const hub = await node.enrollHub({ hubId, merchantId });
    assert(hub.keyPem !== undefined, "enrolment generated the hub key");
    const wallets: HubIdentity["wallets"] = [];
    for (let walletIndex = 1; walletIndex <= walletCount; walletIndex += 1) {
      const walletId = `w${index}-${walletIndex}`;
      const wallet = await node.enrollWallet({ walletId, currency, perPaymentMaxMinor: amountMinor });
      assert(wallet.keyPem !== undefined, "enrolment generated the wallet key");
      // Funds for every ATC the wallet has: funds never decline a payment.
      node.registry.fundWallet(walletId, Math.min(options.payments, atcMax) * amountMinor);
      wallets.push({ walletId, keyPem: wallet.keyPem });
    }
    identities.push({ hubId, merchantId, certPem: hub.certPem, keyPem: hub.keyPem, wallets });
  }
  return identities;
}

/** What the generator needs to connect N hubs to `url` and run the load `options` asks for. */
export function generatorSetup(
  options: BenchOptions,
  target: Pick<SetupMessage, "url" | "caPem" | "servicePublicKeyPem" | "hubs" | "protocolVersion" | "walletPerLane">,
): SetupMessage {
  return {
    type: "setup",
    ...target,
    currency,
    inflight: options.inflight,
    ...(options.ratePerSecond !== undefined ? { ratePerSecond: options.ratePerSecond } : {}),
    paymentsMax: options.payments,
    durationMs: options.seconds * 1000,
    warmupMs: options.warmupSeconds * 1000,
    amountMinor,
    decisionTimeoutMs,
    connectTimeoutMs,
    profile: options.profile,
  };
}

/**
 * Starts a settlement node (broker + service, this process) on a temp dir and loopback, enrols the hubs and
 * their wallets, forks the load generator, runs the load, then proves the books: invariants hold and there is
 * exactly one payment transfer per approved payment.
 */
export async function runUnderLoad(options: BenchOptions): Promise<LoadResult> {
  const dataDir = mkdtempSync(join(tmpdir(), "tapwire-bench-"));
  const node = new SettlementNode({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    settlement: {
      ...(options.batchMax !== undefined ? { batchMax: options.batchMax } : {}),
      ...(options.verifyWorkers !== undefined ? { verifyWorkers: options.verifyWorkers } : {}),
      ...(options.verifyGatherMs !== undefined ? { verifyGatherMs: options.verifyGatherMs } : {}),
    },
    ...(options.handlerCalls !== undefined ? { handlerCallsInFlightMax: options.handlerCalls } : {}),
    // Served as in production and scraped over HTTP after the load: its counts must equal the generator's.
    metrics: { port: 0 },
  });
  let generatorProcess: GeneratorProcess | undefined;
  let stallMeter: MachineStallMeter | undefined;
  try {
    await node.start();
    const hubs = await enrolHubs(node, { hubs: options.hubs, payments: paymentsSentMax(options) }, options.walletPerLane ? options.inflight : 1);
    generatorProcess = GeneratorProcess.fork();
    const setup = generatorSetup(options, {
      url: node.url,
      caPem: node.pki.ca.certPem,
      servicePublicKeyPem: node.service.publicKey.export({ type: "spki", format: "pem" }).toString(),
      hubs,
      protocolVersion: 4,
      walletPerLane: options.walletPerLane,
    });
    const connectMs = await generatorProcess.connect(setup);
    stallMeter = MachineStallMeter.fork();
    const transfersBefore = node.service.ledger.transferCount();
    const profile = options.profile ? new CpuProfile() : undefined;
    const loopDelay = monitorEventLoopDelay({ resolution: loopDelayResolutionMs });
    // Set as the measured load starts (after the warm-up): the warm-up's CPU, memory and stalls are not counted.
    let meter: CpuMeter | undefined;
    let rssPeakBytes = 0;
    const rssSampler = setInterval(() => {
      if (meter !== undefined) rssPeakBytes = Math.max(rssPeakBytes, process.memoryUsage.rss());
    }, rssSampleMs);
    const generator = await generatorProcess
      .run(setup, async () => {
        await profile?.start();
        meter = new CpuMeter();
        loopDelay.enable();
        await stallMeter?.start();
        rssPeakBytes = process.memoryUsage.rss();
      })
      .finally(() => {
        clearInterval(rssSampler);
        loopDelay.disable();
      });
    assert(meter !== undefined, "the measured load started");
    const cpu = meter.stop();
    const machineStalls = await stallMeter.stop();
    const nodeProfile = await profile?.stop();
    const invariants = node.service.ledger.checkInvariants();
    const paymentTransfers = node.service.ledger.transferCount() - transfersBefore;
    const merchantBalanceMinor = node.service.ledger.balanceOf(merchantAccountId(merchantId));
    const whole = wholeRunCounts(generator);
    const consistent = paymentTransfers === whole.approved && merchantBalanceMinor === whole.approved * amountMinor;
    const scraped = await scrapedCounts([node.metricsUrl!], whole);
    return {
      generator,
      node: {
        cpu,
        rssPeakMb: rssPeakBytes / 1_048_576,
        // The histogram counts in ns, the timer's own period included.
        loopDelay: { p50Ms: loopDelay.percentile(50) / 1e6, p99Ms: loopDelay.percentile(99) / 1e6, maxMs: loopDelay.max / 1e6 },
        ...(nodeProfile ? { profile: nodeProfile } : {}),
      },
      machineStalls,
      connectMs,
      ledger: { invariants, paymentTransfers, merchantBalanceMinor, consistent },
      scraped,
    };
  } finally {
    generatorProcess?.kill();
    stallMeter?.kill();
    await node.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
