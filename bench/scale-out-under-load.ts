/**
 * `npm run bench -- --broker mosquitto --store postgres --workers N`: the settlement side as an operator scales it
 * out. N real `tapwire settle` workers (each its own process, certificate and client id) in one MQTT 5 shared group
 * on one fresh PostgreSQL database, behind a private Mosquitto with tapwire's generated config and ACL; the forked
 * load generator's hubs connect to Mosquitto with MQTT 5. The CPU of every worker process, of Mosquitto and of the
 * database's PostgreSQL backends is read from /proc; at the end the books are proven on the database.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { merchantAccountId } from "../broker/ledger/ledger.ts";
import { loadOrCreateOperatorPki, type OperatorPki } from "../broker/operator-pki.ts";
import { SettlementNode } from "../broker/settlement-node.ts";
import { SettlementService } from "../broker/settlement/settlement-service.ts";
import { recordStore } from "../broker/store/store-location.ts";
import { assert } from "../core/assert.ts";
import { createDataDir } from "../core/data-dir.ts";
import { systemClock, systemRandom } from "../core/sources.ts";
import { mosquittoAcl } from "../transport/mosquitto-config.ts";
import { CliProcess } from "../test/integration/settle-process.ts";
import { mosquittoPath, startMosquitto, type RunningMosquitto } from "../test/support/mosquitto.ts";
import { createTestDatabase, sqlOn, type TestDatabase } from "../test/support/postgres.ts";
import { wholeRunCounts, type HubIdentity } from "./generator-protocol.ts";
import { GeneratorProcess } from "./generator-process.ts";
import { MachineStallMeter } from "./machine-stalls.ts";
import type { BenchOptions } from "./options.ts";
import { ProcessesCpuMeter, peakRssMbOf, pidsOfGroup, type ProcessesCpu } from "./proc-cpu.ts";
import { scrapedCounts } from "./scraped-counts.ts";
import { amountMinor, enrolHubs, generatorSetup, merchantId, paymentsSentMax, type LoadResult } from "./settlement-under-load.ts";

/** The settlement side of a scale-out run: where each part's CPU went during the load, and the workers' memory. */
export interface ScaleOutSide {
  store: "postgres";
  broker: "mosquitto";
  workers: number;
  postgresVersion: string;
  mosquittoVersion: string;
  workersCpu: ProcessesCpu;
  brokerCpu: ProcessesCpu;
  /** The PostgreSQL backends serving this run's database (the workers' connections); shared server processes not included. */
  databaseCpu: ProcessesCpu;
  /** Peak resident memory (VmHWM) of the largest worker process, and of all workers added up. */
  workerRssPeakMbMax: number;
  workerRssPeakMbSum: number;
  brokerRssPeakMb: number;
  /** From the first worker's spawn to the last one's "ready". */
  workersStartMs: number;
}

const sharedGroup = "settle";
const workerReadyTimeoutMs = 60_000;
const workerStopTimeoutMs = 15_000;

interface Worker {
  name: string;
  process: CliProcess;
  metricsUrl: string;
}

/** What the enrolment left behind: the hubs the generator plays, and the keys the workers share. */
interface EnrolledStore {
  hubs: HubIdentity[];
  pki: OperatorPki;
  servicePublicKeyPem: string;
  transfersBefore: number;
}

/** Names the database as the data dir's store and enrols through a node on it, stopped before the workers start. */
async function enrol(dataDir: string, databaseUrl: string, options: BenchOptions): Promise<EnrolledStore> {
  await createDataDir(dataDir);
  recordStore(dataDir, databaseUrl);
  const node = new SettlementNode({ dataDir, host: "127.0.0.1", port: 0 });
  try {
    await node.start();
    // A wallet per lane: with several workers, one wallet's payments must not be in flight together (SetupMessage).
    const hubs = await enrolHubs(node, { hubs: options.hubs, payments: paymentsSentMax(options) }, options.inflight);
    return {
      hubs,
      pki: node.pki,
      servicePublicKeyPem: node.service.publicKey.export({ type: "spki", format: "pem" }).toString(),
      transfersBefore: node.service.ledger.transferCount(),
    };
  } finally {
    await node.stop();
  }
}

/** A worker announces itself with its metrics address (`--metrics-port 0`: any free port). */
const readyLine = /metrics on (http:\/\/\S+)\/metrics/;

/** One after the other: each worker's first start issues its certificate into the shared data dir. */
async function startWorkers(dataDir: string, brokerUrl: string, count: number, started: Worker[]): Promise<void> {
  for (let index = 1; index <= count; index += 1) {
    const name = `w${index}`;
    const cli = CliProcess.spawn([
      "settle", "--data-dir", dataDir, "--broker-url", brokerUrl, "--protocol", "5",
      "--shared-group", sharedGroup, "--instance", name, "--metrics-port", "0",
    ]);
    // Listed before it is ready, so a worker that never gets there is still killed at the end.
    const worker: Worker = { name, process: cli, metricsUrl: "" };
    started.push(worker);
    await cli.waitOutput(readyLine, workerReadyTimeoutMs);
    worker.metricsUrl = readyLine.exec(cli.stdout)![1]!;
  }
}

function groupPids(worker: Worker): number[] {
  const pgid = worker.process.processGroupId;
  assert(pgid !== undefined, `worker ${worker.name} has a process`);
  return pidsOfGroup(pgid);
}

/** The server processes serving this database: the workers' connections, once they are all up. */
async function backendPids(database: TestDatabase): Promise<number[]> {
  const result = await sqlOn(database.url, "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [database.name]);
  return result.rows.map((row: { pid: number }) => row.pid);
}

async function versions(database: TestDatabase): Promise<{ postgresVersion: string; mosquittoVersion: string }> {
  const result = await sqlOn(database.url, "SHOW server_version");
  // `mosquitto -h` prints "mosquitto version X" first, on stdout or stderr depending on the build, and exits non-zero.
  const help = spawnSync(mosquittoPath, ["-h"], { encoding: "utf8", timeout: 5_000 });
  const mosquittoVersion = /mosquitto version (\S+)/.exec(`${help.stdout}${help.stderr}`)?.[1] ?? "unknown";
  return { postgresVersion: String(result.rows[0].server_version), mosquittoVersion };
}

/** Every payment transfer's reference once: no request was charged twice, whichever worker answered it. */
async function paymentReferencesDistinct(database: TestDatabase): Promise<boolean> {
  const result = await sqlOn(database.url, "SELECT count(*) AS transfers, count(DISTINCT reference) AS refs FROM ledger_transfers WHERE kind = 'payment'");
  return Number(result.rows[0].transfers) === Number(result.rows[0].refs);
}

/** The books on the shared database once the workers are gone, opened as any admin command on it would. */
async function proveBooks(database: TestDatabase, enrolled: EnrolledStore, approved: number): Promise<LoadResult["ledger"]> {
  const service = new SettlementService({
    databasePath: database.url,
    serviceKey: enrolled.pki.serviceSigningKey,
    privacyKek: enrolled.pki.privacyKek,
    clock: systemClock,
    verifyWorkers: 0,
  });
  await service.start();
  try {
    const invariants = service.ledger.checkInvariants();
    const paymentTransfers = service.ledger.transferCount() - enrolled.transfersBefore;
    const merchantBalanceMinor = service.ledger.balanceOf(merchantAccountId(merchantId));
    const once = await paymentReferencesDistinct(database);
    const consistent = once && paymentTransfers === approved && merchantBalanceMinor === approved * amountMinor;
    return { invariants, paymentTransfers, merchantBalanceMinor, consistent, paymentsOnce: once };
  } finally {
    await service.stop();
  }
}

async function stopWorkers(workers: readonly Worker[]): Promise<void> {
  for (const worker of workers) worker.process.signal("SIGTERM");
  await Promise.all(workers.map((worker) => worker.process.waitExit(workerStopTimeoutMs)));
}

export async function runScaleOutUnderLoad(options: BenchOptions): Promise<LoadResult> {
  assert(options.broker === "mosquitto" && options.store === "postgres", "scale-out runs workers on PostgreSQL behind Mosquitto");
  const dataDir = mkdtempSync(join(tmpdir(), "tapwire-bench-scale-"));
  let database: TestDatabase | undefined;
  let mosquitto: RunningMosquitto | undefined;
  let generatorProcess: GeneratorProcess | undefined;
  let stallMeter: MachineStallMeter | undefined;
  const workers: Worker[] = [];
  try {
    database = await createTestDatabase();
    const enrolled = await enrol(dataDir, database.url, options);
    const names = Array.from({ length: options.workers }, (_, index) => `w${index + 1}`);
    const { pki } = enrolled;
    mosquitto = await startMosquitto({ caPem: pki.ca.certPem, certPem: pki.server.certPem, keyPem: pki.server.keyPem, acl: mosquittoAcl([], names) });
    const workersStartedMs = performance.now();
    await startWorkers(dataDir, mosquitto.url, options.workers, workers);
    const workersStartMs = performance.now() - workersStartedMs;
    generatorProcess = GeneratorProcess.fork();
    const setup = generatorSetup(options, { url: mosquitto.url, caPem: pki.ca.certPem, servicePublicKeyPem: enrolled.servicePublicKeyPem, hubs: enrolled.hubs, protocolVersion: 5, walletPerLane: true });
    const connectMs = await generatorProcess.connect(setup);
    const workerPids = workers.flatMap(groupPids);
    const databasePids = await backendPids(database);
    const brokerPid = mosquitto.pid;
    stallMeter = MachineStallMeter.fork();
    // Started as the measured load starts (after the warm-up): the warm-up's CPU is not counted.
    let meters: { workers: ProcessesCpuMeter; broker: ProcessesCpuMeter; database: ProcessesCpuMeter } | undefined;
    const generator = await generatorProcess.run(setup, async () => {
      meters = { workers: new ProcessesCpuMeter(workerPids), broker: new ProcessesCpuMeter([brokerPid]), database: new ProcessesCpuMeter(databasePids) };
      await stallMeter?.start();
    });
    assert(meters !== undefined, "the measured load started");
    const workersCpu = meters.workers.stop();
    const brokerCpu = meters.broker.stop();
    const databaseCpu = meters.database.stop();
    const machineStalls = await stallMeter.stop();
    const workerRssMb = workers.map((worker) => peakRssMbOf(groupPids(worker)));
    const whole = wholeRunCounts(generator);
    const scraped = await scrapedCounts(workers.map((worker) => worker.metricsUrl), whole);
    const scaleOut: ScaleOutSide = {
      store: "postgres",
      broker: "mosquitto",
      workers: options.workers,
      ...(await versions(database)),
      workersCpu,
      brokerCpu,
      databaseCpu,
      workerRssPeakMbMax: Math.max(...workerRssMb),
      workerRssPeakMbSum: workerRssMb.reduce((sum, mb) => sum + mb, 0),
      brokerRssPeakMb: peakRssMbOf([mosquitto.pid]),
      workersStartMs,
    };
    await stopWorkers(workers);
    const ledger = await proveBooks(database, enrolled, whole.approved);
    return { generator, scaleOut, machineStalls, connectMs, ledger, scraped };
  } catch (error) {
    // The workers' own account of what went wrong, with the bench's.
    for (const worker of workers) console.error(`worker ${worker.name} stderr (last part): ${worker.process.stderr.slice(-2_000)}`);
    throw error;
  } finally {
    generatorProcess?.kill();
    stallMeter?.kill();
    for (const worker of workers) worker.process.signal("SIGKILL");
    await mosquitto?.stop();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
