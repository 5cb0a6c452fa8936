/**
 * `npm run bench -- --store sqlite|postgres [--workers N]`: the settlement stores the service writes (SqliteLedger,
 * Registry's hub windows, DecisionStore) on either engine, driven by N settlement workers, each in a thread of its
 * own with its own connection (shared-store-worker.ts). Batches of requests go round-robin to the workers, as a
 * shared subscription deals them out, so a hub's seqs reach different workers out of order. Bounded by a request
 * count and a time limit; ends by proving the books and that every request was settled once, none refused.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { SqliteLedger } from "../broker/ledger/sqlite-ledger.ts";
import { Registry } from "../broker/registry/registry.ts";
import { serviceSchema } from "../broker/settlement/service-schema.ts";
import { openStore } from "../broker/store/open-store.ts";
import type { SqlDb } from "../core/sql-db.ts";
import { systemClock } from "../core/sources.ts";
import { generateP256, publicKeyPem } from "../protocol/keys.ts";
import { createServiceDatabase } from "../test/support/postgres.ts";
import { loadAverage1m } from "./report.ts";
import type { BenchShape, StoreBenchMessage, StoreBenchReport, StoreBenchWorkerData } from "./shared-store-worker.ts";

interface StoreBenchOptions {
  store: "sqlite" | "postgres";
  workers: number;
  requests: number;
  seconds: number;
  batch: number;
}

const shape: BenchShape = { hubs: 64, wallets: 512, merchants: 8, amountMinor: 100 };
/** Each wallet's funds: far more than any run can spend, so every honest request is approved. */
const walletFundsMinor = 100_000_000;

function parse(argv: string[]): StoreBenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: { store: { type: "string" }, workers: { type: "string" }, requests: { type: "string" }, seconds: { type: "string" }, batch: { type: "string" } },
  });
  const bounded = (raw: string | undefined, fallback: number, max: number, name: string) => {
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new Error(`--${name} must be an integer 1..${max}`);
    return value;
  };
  if (values.store !== "sqlite" && values.store !== "postgres") throw new Error("--store must be sqlite or postgres");
  return {
    store: values.store,
    workers: bounded(values.workers, 1, 16, "workers"),
    requests: bounded(values.requests, 20_000, 1_000_000, "requests"),
    seconds: bounded(values.seconds, 20, 600, "seconds"),
    batch: bounded(values.batch, 64, 1_000, "batch"),
  };
}

/** A fresh database with the service's schema: a SQLite file in a temp dir, or a PostgreSQL database of its own. */
async function freshStore(store: StoreBenchOptions["store"]): Promise<{ location: string; dispose(): Promise<void> }> {
  if (store === "postgres") {
    const database = await createServiceDatabase();
    return { location: database.url, dispose: () => database.drop() };
  }
  const dir = mkdtempSync(join(tmpdir(), "tapwire-store-bench-"));
  return { location: join(dir, "settlement.sqlite"), dispose: async () => rmSync(dir, { recursive: true, force: true }) };
}

/** Merchants, their hubs and funded wallets, enrolled as the service enrolls them. */
function enroll(db: SqlDb): void {
  const ledger = new SqliteLedger(db, systemClock);
  const registry = new Registry(db, ledger, systemClock);
  const pem = () => publicKeyPem(generateP256().publicKey);
  db.transaction(() => {
    for (let m = 0; m < shape.merchants; m++) registry.enrollMerchant({ merchantId: `m${m}`, currency: "EUR" });
    for (let h = 0; h < shape.hubs; h++) registry.enrollHub({ hubId: `h${h}`, merchantId: `m${h % shape.merchants}`, publicKeyPem: pem(), certificateSerial: `serial-h${h}` });
    for (let w = 0; w < shape.wallets; w++) {
      registry.enrollWallet({ walletId: `w${w}`, publicKeyPem: pem(), currency: "EUR", perPaymentMaxMinor: shape.amountMinor });
      registry.fundWallet(`w${w}`, walletFundsMinor);
    }
  }).immediate();
}

/** Starts the workers, releases them together once all are ready, and returns their reports and the time they took. */
async function runWorkers(location: string, options: StoreBenchOptions): Promise<{ reports: StoreBenchReport[]; elapsedMs: number }> {
  const start = new SharedArrayBuffer(4);
  const workers = Array.from({ length: options.workers }, (_, workerIndex) => {
    const workerData: StoreBenchWorkerData = { location, workerIndex, workers: options.workers, requests: options.requests, batch: options.batch, secondsMax: options.seconds, shape, start };
    return new Worker(new URL("./shared-store-worker.mjs", import.meta.url), { workerData });
  });
  const reply = <T>(worker: Worker, pick: (message: StoreBenchMessage) => T | undefined) =>
    new Promise<T>((resolve, reject) => {
      worker.on("message", (message: StoreBenchMessage) => {
        const value = pick(message);
        if (value !== undefined) resolve(value);
      });
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`bench worker exited (code ${code}) before its report`)));
    });
  try {
    const reports = workers.map((worker) => reply(worker, (message) => ("report" in message ? message.report : undefined)));
    reports.forEach((report) => report.catch(() => undefined));
    await Promise.all(workers.map((worker) => reply(worker, (message) => ("ready" in message ? true : undefined))));
    const startedMs = systemClock.nowMs();
    Atomics.store(new Int32Array(start), 0, 1);
    Atomics.notify(new Int32Array(start), 0);
    const done = await Promise.all(reports);
    return { reports: done, elapsedMs: systemClock.nowMs() - startedMs };
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

interface Proof {
  holds: boolean;
  text: string;
}

/** The books sum to zero, each approved request is one payment in the ledger, each settled request one decision, none declined. */
function prove(db: SqlDb, reports: readonly StoreBenchReport[]): Proof {
  const books = new SqliteLedger(db, systemClock).checkInvariants();
  const payments = db
    .prepare<[], { transfers: number; references: number }>("SELECT COUNT(*) AS transfers, COUNT(DISTINCT reference) AS \"references\" FROM ledger_transfers WHERE kind = 'payment'")
    .get();
  const decisions = db.prepare<[], number>("SELECT COUNT(*) FROM settlement_decisions").pluck().get();
  const total = (pick: (r: StoreBenchReport) => number) => reports.reduce((sum, r) => sum + pick(r), 0);
  const declined = total((r) => Object.values(r.declined).reduce((sum, n) => sum + n, 0));
  const zero = Object.values(books.balanceSumMinorByCurrency).every((sum) => sum === 0);
  const once = payments?.transfers === total((r) => r.approved) && payments.references === payments.transfers && decisions === total((r) => r.settled);
  const declinedText = declined === 0 ? "none declined" : `DECLINED ${JSON.stringify(reports.map((r) => r.declined))}`;
  return {
    holds: zero && once && declined === 0 && total((r) => r.replayed) === 0,
    text: `${once ? "each once" : `MISMATCH ${JSON.stringify({ payments, decisions })}`}, ${declinedText}, sum ${JSON.stringify(books.balanceSumMinorByCurrency)}`,
  };
}

export async function storeBenchCommand(argv: string[]): Promise<number> {
  const options = parse(argv);
  const store = await freshStore(options.store);
  const db = openStore(store.location, serviceSchema([]), systemClock);
  try {
    enroll(db);
    const loadBefore = loadAverage1m();
    const { reports, elapsedMs } = await runWorkers(store.location, options);
    const settled = reports.reduce((sum, r) => sum + r.settled, 0);
    const proof = prove(db, reports);
    console.log(
      [
        `shared store bench: ${options.store}, ${options.workers} worker thread(s) with a connection each, batches of ${options.batch}, ${shape.hubs} hubs, ${shape.wallets} wallets, ${shape.merchants} merchants; load 1m ${loadBefore.toFixed(2)} → ${loadAverage1m().toFixed(2)}`,
        `| requests settled | seconds | requests/s | batches | conflict retries | batches refused (LedgerStorage), sent again | books |`,
        `| ---: | ---: | ---: | ---: | ---: | ---: | --- |`,
        `| ${settled} | ${(elapsedMs / 1_000).toFixed(1)} | ${Math.round((settled / elapsedMs) * 1_000)} | ${reports.reduce((sum, r) => sum + r.batches, 0)} | ${reports.reduce((sum, r) => sum + r.conflictRetries, 0)} | ${reports.reduce((sum, r) => sum + r.storageRefusals, 0)} | ${proof.text} |`,
      ].join("\n"),
    );
    return proof.holds ? 0 : 1;
  } finally {
    db.close();
    await store.dispose();
  }
}
