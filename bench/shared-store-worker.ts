import { parentPort, workerData } from "node:worker_threads";
import { merchantAccountId, walletAccountId } from "../broker/ledger/ledger.ts";
import { SqliteLedger } from "../broker/ledger/sqlite-ledger.ts";
import { Registry } from "../broker/registry/registry.ts";
import { DecisionStore } from "../broker/settlement/decision-store.ts";
import { serviceSchema } from "../broker/settlement/service-schema.ts";
import { storageFault } from "../broker/settlement/storage-faults.ts";
import { openStore } from "../broker/store/open-store.ts";
import { PgSyncDb } from "../broker/store/pg-sync-db.ts";
import { assert } from "../core/assert.ts";
import { systemClock } from "../core/sources.ts";
import { isTapwireError } from "../protocol/errors.ts";

/**
 * One settlement worker of the shared-store bench (shared-store.ts starts them), in a thread of its own with its
 * own connection: it takes every workers-th batch of requests, as a shared subscription deals them out, and
 * commits each batch in one transaction (group commit) the way the service's batch runs: per request the stored
 * decision is looked up, the hub's seq goes through its window and the payment leg is posted (in a savepoint, so
 * a refusal undoes only that request), then the decision is stored.
 */
export interface StoreBenchWorkerData {
  location: string;
  workerIndex: number;
  workers: number;
  requests: number;
  batch: number;
  /** How long this worker takes batches for, from the moment all are released. */
  secondsMax: number;
  shape: BenchShape;
  /** Int32 slot 0: 0 until every worker is ready, then 1. */
  start: SharedArrayBuffer;
}

export interface BenchShape {
  hubs: number;
  wallets: number;
  merchants: number;
  amountMinor: number;
}

export interface StoreBenchReport {
  settled: number;
  approved: number;
  /** Declined requests by code: none expected, every request is honest and every wallet funded. */
  declined: Record<number, number>;
  /** Requests that found their decision already stored. */
  replayed: number;
  batches: number;
  /** PostgreSQL transactions run again after a conflict with another worker's. */
  conflictRetries: number;
  /** Batches the storage refused (LedgerStorage: contention past every retry), sent again as hubs retry. */
  storageRefusals: number;
}

export type StoreBenchMessage = { ready: true } | { report: StoreBenchReport };

/** Request number `request`'s hub, seq and parties: hub seqs run 1, 2, 3… in request order. */
function requestOf(request: number, shape: BenchShape) {
  const hubIndex = request % shape.hubs;
  return {
    hubId: `h${hubIndex}`,
    seq: Math.floor(request / shape.hubs) + 1,
    requestId: `r${request}`,
    walletId: `w${request % shape.wallets}`,
    merchantId: `m${hubIndex % shape.merchants}`,
  };
}

const startWaitMsMax = 60_000;
/** Refusals of one batch in a row before the bench gives up: storage that never takes it is not contention. */
const storageRefusalsInARowMax = 100;
const { location, workerIndex, workers, requests, batch, secondsMax, shape, start } = workerData as StoreBenchWorkerData;
const db = openStore(location, serviceSchema([]), systemClock);
const ledger = new SqliteLedger(db, systemClock);
const registry = new Registry(db, ledger, systemClock);
const decisions = new DecisionStore(db);
const savepoint = db.transaction((work: () => void) => work());

type Outcome = "approved" | "replayed" | number;

function settle(request: number, nowMs: number): Outcome {
  const { hubId, seq, requestId, walletId, merchantId } = requestOf(request, shape);
  if (decisions.findDecision(hubId, requestId)) return "replayed";
  let code = 0;
  try {
    savepoint(() => {
      if (!registry.advanceHubSeq(hubId, seq)) throw registry.seqRefusal(hubId, seq);
      const leg = { amountMinor: shape.amountMinor, currency: "EUR", kind: "payment", reference: `${hubId}/${requestId}` };
      ledger.postLinked([{ debitAccountId: walletAccountId(walletId), creditAccountId: merchantAccountId(merchantId), ...leg }]);
    });
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    code = error.code;
  }
  decisions.saveDecision({
    hubId,
    principalKind: "hub",
    requestId,
    bodyHash: new Uint8Array(32),
    requestType: "payment_request",
    status: code === 0 ? "approved" : "declined",
    code,
    walletId: undefined,
    decision: Buffer.alloc(180, 1),
    expMs: nowMs + 330_000,
    createdAtMs: nowMs,
  });
  return code === 0 ? "approved" : code;
}

// A transaction run again after a conflict returns the outcomes of its last run, the one that committed.
const commitBatch = db.transaction((first: number, end: number): Outcome[] => {
  const nowMs = systemClock.nowMs();
  return Array.from({ length: end - first }, (_, i) => settle(first + i, nowMs));
});

/** A batch the storage refused is declined LedgerStorage (retry later) by the service; its hubs send it again. */
function commitRetried(first: number, end: number, report: StoreBenchReport): Outcome[] {
  for (let refusals = 0; ; refusals++) {
    try {
      return commitBatch.immediate(first, end);
    } catch (error) {
      if (!storageFault(error) || refusals >= storageRefusalsInARowMax) throw error;
      report.storageRefusals += 1;
    }
  }
}

function run(): StoreBenchReport {
  const deadlineMs = systemClock.nowMs() + secondsMax * 1_000;
  const report: StoreBenchReport = { settled: 0, approved: 0, declined: {}, replayed: 0, batches: 0, conflictRetries: 0, storageRefusals: 0 };
  for (let b = workerIndex; b * batch < requests && systemClock.nowMs() < deadlineMs; b += workers) {
    for (const outcome of commitRetried(b * batch, Math.min((b + 1) * batch, requests), report)) {
      report.settled += 1;
      if (outcome === "approved") report.approved += 1;
      else if (outcome === "replayed") report.replayed += 1;
      else report.declined[outcome] = (report.declined[outcome] ?? 0) + 1;
    }
    report.batches += 1;
  }
  report.conflictRetries = db instanceof PgSyncDb ? db.conflictRetries : 0;
  return report;
}

try {
  parentPort?.postMessage({ ready: true } satisfies StoreBenchMessage);
  assert(Atomics.wait(new Int32Array(start), 0, 0, startWaitMsMax) !== "timed-out", `not released within ${startWaitMsMax} ms`);
  parentPort?.postMessage({ report: run() } satisfies StoreBenchMessage);
} finally {
  db.close();
}
