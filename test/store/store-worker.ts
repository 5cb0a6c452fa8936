import { parentPort, workerData } from "node:worker_threads";
import { serviceSchema } from "../../broker/settlement/service-schema.ts";
import { openStore } from "../../broker/store/open-store.ts";
import { assert } from "../../core/assert.ts";
import { migratedSchema, runJob, storesOver, testClock, testClockStartMs, type Job, type Outcome } from "./store-jobs.ts";

/**
 * One more settlement worker for a store test, in a thread of its own with its own connection to the same
 * database (store-workers.ts starts it): it opens the store, says it is ready, waits at the barrier with the
 * others, then does its share (or, for `migrate`, opens a fresh database only once released, so the workers'
 * migrations overlap).
 */
export interface StoreWorkerData {
  location: string;
  task: { kind: "migrate" } | { kind: "job"; job: Job };
  /** Int32 slot 0: 0 until every worker is ready, then 1. */
  start: SharedArrayBuffer;
}

export type StoreWorkerMessage = { ready: true } | { outcomes: Outcome[] };

/** Longest wait at the barrier: a test whose other side never comes fails instead of hanging. */
const startWaitMsMax = 20_000;

const { location, task, start } = workerData as StoreWorkerData;
const clock = testClock();

function release(): void {
  parentPort?.postMessage({ ready: true } satisfies StoreWorkerMessage);
  assert(Atomics.wait(new Int32Array(start), 0, 0, startWaitMsMax) !== "timed-out", `not released within ${startWaitMsMax} ms`);
}

if (task.kind === "migrate") {
  release();
  openStore(location, migratedSchema(), clock).close();
  parentPort?.postMessage({ outcomes: ["committed"] } satisfies StoreWorkerMessage);
} else {
  const db = openStore(location, serviceSchema([]), clock);
  try {
    release();
    parentPort?.postMessage({ outcomes: runJob(storesOver(db, clock), task.job, testClockStartMs) } satisfies StoreWorkerMessage);
  } finally {
    db.close();
  }
}
