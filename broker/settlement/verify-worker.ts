import { parentPort } from "node:worker_threads";
import { assert } from "../../core/assert.ts";
import { PublicKeyCache } from "../registry/public-keys.ts";
import { runPrecheck, type PrecheckJob, type PrecheckResult } from "./prechecks.ts";

/** Main thread → worker: jobs in arrival order. */
export interface PoolRequest {
  jobs: Array<{ id: number; job: PrecheckJob }>;
}

/** Worker → main thread: `ready` once loaded, then one `results` per request, in the same order. */
export type WorkerReply = { type: "ready" } | { type: "results"; results: Array<{ id: number; result: PrecheckResult }> };

/** Hub and wallet keys a worker keeps imported. */
const keysCachedMax = 10_000;

const port = parentPort;
assert(port !== null, "verify-worker runs only as a worker thread");
const keys = new PublicKeyCache(keysCachedMax);
port.on("message", (request: PoolRequest) => {
  const results = request.jobs.map(({ id, job }) => ({ id, result: runPrecheck(job, keys) }));
  port.postMessage({ type: "results", results } satisfies WorkerReply);
});
port.postMessage({ type: "ready" } satisfies WorkerReply);
