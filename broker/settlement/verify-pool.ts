import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import type { PrecheckJob, PrecheckResult } from "./prechecks.ts";
import type { PoolRequest, WorkerReply } from "./verify-worker.ts";

const log = logger("tapwire:verify-pool");

export const verifyWorkersMax = 64;

/**
 * How long a job that comes within gatherMs of the one before waits for more before its worker gets them. Each
 * message to a worker costs the main thread a wake of that thread (~20-50 µs here when it sleeps, a few µs when it is
 * busy) and each reply one turn, and the jobs of one message come back as one batch of the group commit, so gathering
 * makes batches, not only messages: at 1,000 payments/s the bench's node spent 1,046-1,092 µs CPU a payment (main
 * thread 730-757) with each job posted in its own turn, 911-959 (main 636-671) gathering 2 ms (2 pairs); posting at
 * the end of every turn cost +7% again (3 pairs). Under a backlog the jobs wait in the queue for the batch anyway.
 *
 * A job that comes after a quiet spell (none in the last gatherMs) goes at the end of its turn, with whatever came in
 * that turn: nobody may be coming to join it. So a lone terminal never waits the timer (one hub, one payment at a
 * time, over the network, 2 pairs: p50 5.5 -> 3.3 and 7.0 -> 3.7 ms, 167 -> 267 and 134 -> 240 payments/s), nor do
 * the requests that piled up while a batch held the main thread. The bench's closed loop (32 hubs x 16) falls into a
 * slow regime in some runs (~1,750-1,920 approved/s against ~2,100-2,340 here): 5 of 15 runs gathering every job, 0 of
 * 5 with this rule, 3 of 4 with a smoothed rule (a mean gap over gatherMs), which gathered after every batch again.
 * The price at a steady 1,000/s: some jobs come after a gap of 2 ms and go alone (node CPU +0.5 to +4% in 5 pairs, +14%
 * in a sixth; p99 within this VM's spread of 84-288 ms between runs alike).
 */
export const gatherMsDefault = 2;
/** The longest gather an operator may set (SettlementOptions.verifyGatherMs): 5 ms measured no better than 2. */
export const verifyGatherMsMax = 50;
/** A gathering message goes at once when it holds this many jobs. */
export const gatherJobsMaxDefault = 32;

export interface VerifyPoolOptions {
  /** Worker threads, 1..verifyWorkersMax. */
  size: number;
  /** Jobs submitted and not yet answered, over all workers; beyond it `submit` declines (the caller checks inline). */
  jobsQueuedMax: number;
  /** A worker holding jobs that answers nothing for this long is replaced and its jobs fail. Default 5 000 ms. */
  stallTimeoutMs?: number;
  /** A worker not loaded after this long is replaced. Default 30 000 ms. */
  bootTimeoutMs?: number;
  /** Consecutive failures after which a worker is not replaced again (its share is then checked inline). Default 5. */
  respawnsMax?: number;
  /** First wait before replacing a failed worker, doubled per consecutive failure up to respawnDelayMsMax. Default 100 ms. */
  respawnDelayMsMin?: number;
  /** Default 5 000 ms. */
  respawnDelayMsMax?: number;
  /**
   * Default gatherMsDefault. 0 always posts at the end of the event-loop turn (setImmediate): the jobs that came in
   * with one pass over the sockets still go together.
   */
  gatherMs?: number;
  /** Default gatherJobsMaxDefault. */
  gatherJobsMax?: number;
  /** Monotonic milliseconds, for telling a quiet spell (default performance.now). */
  nowMs?: () => number;
  /** Testing hook: the worker entry to load instead of verify-worker.mjs (e.g. one that crashes or hangs). */
  workerUrl?: URL;
}

interface Waiter {
  resolve: (result: PrecheckResult) => void;
  reject: (error: TapwireError) => void;
}

/** One worker thread and the jobs it holds; replaced as a whole when the worker fails. */
interface Slot {
  worker: Worker | undefined;
  ready: boolean;
  /** Jobs given to this worker, answered or failed together with it. */
  waiters: Map<number, Waiter>;
  /** Jobs gathering for the next message, posted after gatherMs or once gatherJobsMax are in it. */
  outbox: PoolRequest["jobs"];
  /** Cancels the gather's pending post (a timer, or with gatherMs 0 an immediate); undefined when none is pending. */
  cancelGather: (() => void) | undefined;
  watchdog: NodeJS.Timeout | undefined;
  respawnTimer: NodeJS.Timeout | undefined;
  failures: number;
}

/** Room for tsx and the protocol modules; a worker over it dies and is replaced like any failed one. */
const workerHeapMbMax = 256;

/**
 * A bounded pool of worker threads for the pure signature checks of incoming messages (prechecks.ts).
 * `submit` answers immediately with undefined when no worker is ready or the pool is full, so the caller
 * checks inline instead of waiting. A worker that crashes, exits or stalls fails the jobs it holds with
 * ServiceUnavailable and is replaced after a backoff, at most respawnsMax times in a row.
 */
export class VerifyPool {
  private readonly slots: Slot[] = [];
  private running = false;
  private nextJobId = 1;
  private queued = 0;
  private posted = 0;
  private readonly workerUrl: URL;
  private readonly stallTimeoutMs: number;
  private readonly bootTimeoutMs: number;
  private readonly respawnsMax: number;
  private readonly respawnDelayMsMin: number;
  private readonly respawnDelayMsMax: number;
  private readonly gatherMs: number;
  private readonly gatherJobsMax: number;
  private readonly nowMs: () => number;
  /** When the last job came: the next one gathers only if it comes within gatherMs of it. */
  private lastSubmittedMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: VerifyPoolOptions) {
    assert(Number.isSafeInteger(options.size) && options.size >= 1 && options.size <= verifyWorkersMax, `size must be 1..${verifyWorkersMax}`);
    assert(Number.isSafeInteger(options.jobsQueuedMax) && options.jobsQueuedMax >= 1, "jobsQueuedMax must be a positive integer");
    this.workerUrl = options.workerUrl ?? defaultWorkerUrl();
    this.stallTimeoutMs = options.stallTimeoutMs ?? 5_000;
    this.bootTimeoutMs = options.bootTimeoutMs ?? 30_000;
    this.respawnsMax = options.respawnsMax ?? 5;
    this.respawnDelayMsMin = options.respawnDelayMsMin ?? 100;
    this.respawnDelayMsMax = options.respawnDelayMsMax ?? 5_000;
    this.gatherMs = options.gatherMs ?? gatherMsDefault;
    this.gatherJobsMax = options.gatherJobsMax ?? gatherJobsMaxDefault;
    this.nowMs = options.nowMs ?? (() => performance.now());
    assert(Number.isFinite(this.gatherMs) && this.gatherMs >= 0, "gatherMs must be a non-negative number");
    assert(Number.isSafeInteger(this.gatherJobsMax) && this.gatherJobsMax >= 1, "gatherJobsMax must be a positive integer");
  }

  /** Spawns the workers without waiting for them: until one is ready, every job is checked inline. */
  start(): void {
    assert(!this.running, "VerifyPool already started");
    this.running = true;
    for (let index = 0; index < this.options.size; index += 1) {
      const slot: Slot = {
        worker: undefined,
        ready: false,
        waiters: new Map(),
        outbox: [],
        cancelGather: undefined,
        watchdog: undefined,
        respawnTimer: undefined,
        failures: 0,
      };
      this.slots.push(slot);
      this.spawn(slot);
    }
  }

  /** Fails whatever is still queued with ServiceUnavailable and ends the workers. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const stopped = new TapwireError("verify pool stopped", ErrorCode.ServiceUnavailable);
    const exits = this.slots.map((slot) => {
      clearTimeout(slot.respawnTimer);
      return this.retire(slot, stopped);
    });
    this.slots.length = 0;
    await Promise.all(exits);
  }

  /** Workers loaded and taking jobs. */
  get workersReady(): number {
    return this.slots.filter((slot) => slot.ready).length;
  }

  get jobsQueued(): number {
    return this.queued;
  }

  /** Messages posted to workers so far, each carrying one or more jobs. */
  get messagesPosted(): number {
    return this.posted;
  }

  /** Checks the job on the least busy ready worker; undefined when none is ready or jobsQueuedMax are queued. */
  submit(job: PrecheckJob): Promise<PrecheckResult> | undefined {
    if (!this.running || this.queued >= this.options.jobsQueuedMax) return undefined;
    let slot: Slot | undefined;
    for (const candidate of this.slots) {
      if (candidate.ready && (slot === undefined || candidate.waiters.size < slot.waiters.size)) slot = candidate;
    }
    if (slot === undefined) return undefined;
    const chosen = slot;
    const nowMs = this.nowMs();
    const afterQuiet = nowMs - this.lastSubmittedMs >= this.gatherMs;
    this.lastSubmittedMs = nowMs;
    const id = this.nextJobId;
    this.nextJobId += 1;
    this.queued += 1;
    return new Promise<PrecheckResult>((resolve, reject) => {
      chosen.waiters.set(id, { resolve, reject });
      chosen.outbox.push({ id, job });
      if (chosen.outbox.length >= this.gatherJobsMax) this.flush(chosen);
      else if (chosen.cancelGather === undefined) chosen.cancelGather = this.postLater(chosen, afterQuiet ? 0 : this.gatherMs);
    });
  }

  /** Posts the slot's gathered jobs after `waitMs`, or with 0 at the end of this turn. */
  private postLater(slot: Slot, waitMs: number): () => void {
    if (waitMs === 0) {
      const immediate = setImmediate(() => this.flush(slot));
      return () => clearImmediate(immediate);
    }
    const timer = setTimeout(() => this.flush(slot), waitMs);
    return () => clearTimeout(timer);
  }

  private flush(slot: Slot): void {
    slot.cancelGather?.();
    slot.cancelGather = undefined;
    const worker = slot.worker;
    if (worker === undefined || slot.outbox.length === 0) return;
    const request: PoolRequest = { jobs: packed(slot.outbox) };
    slot.outbox = [];
    this.posted += 1;
    worker.ref();
    if (slot.watchdog === undefined) this.armWatchdog(slot);
    worker.postMessage(request);
  }

  private spawn(slot: Slot): void {
    const worker = new Worker(this.workerUrl, { resourceLimits: { maxOldGenerationSizeMb: workerHeapMbMax } });
    slot.worker = worker;
    slot.ready = false;
    // An idle pool must not keep the process alive; a worker holding jobs does (see flush and answer).
    worker.unref();
    const bootTimer = setTimeout(() => {
      if (slot.worker === worker && !slot.ready) void this.fail(slot, new TapwireError(`verify worker not ready after ${this.bootTimeoutMs} ms`, ErrorCode.ServiceUnavailable));
    }, this.bootTimeoutMs);
    bootTimer.unref();
    worker.on("message", (reply: WorkerReply) => {
      if (slot.worker !== worker) return;
      if (reply.type === "ready") {
        clearTimeout(bootTimer);
        slot.ready = true;
        log.info({ workersReady: this.workersReady }, "verify worker ready");
        return;
      }
      this.answer(slot, reply.results);
    });
    worker.on("error", (error) => {
      if (slot.worker === worker) void this.fail(slot, new TapwireError(`verify worker failed: ${error.message}`, ErrorCode.ServiceUnavailable));
    });
    worker.on("messageerror", (error) => {
      if (slot.worker === worker) void this.fail(slot, new TapwireError(`verify worker message unreadable: ${error.message}`, ErrorCode.ServiceUnavailable));
    });
    worker.on("exit", (exitCode) => {
      clearTimeout(bootTimer);
      if (slot.worker === worker) void this.fail(slot, new TapwireError(`verify worker exited with code ${exitCode}`, ErrorCode.ServiceUnavailable));
    });
  }

  private answer(slot: Slot, results: Array<{ id: number; result: PrecheckResult }>): void {
    slot.failures = 0;
    for (const { id, result } of results) {
      const waiter = slot.waiters.get(id);
      assert(waiter !== undefined, `verify worker answered unknown job ${id}`);
      slot.waiters.delete(id);
      this.queued -= 1;
      waiter.resolve(result);
    }
    clearTimeout(slot.watchdog);
    slot.watchdog = undefined;
    const posted = slot.waiters.size - slot.outbox.length;
    if (posted > 0) this.armWatchdog(slot);
    else slot.worker?.unref();
  }

  /** Progress resets it: it fires only when the worker holds posted jobs and answered none for stallTimeoutMs. */
  private armWatchdog(slot: Slot): void {
    slot.watchdog = setTimeout(() => {
      slot.watchdog = undefined;
      void this.fail(slot, new TapwireError(`verify worker answered nothing for ${this.stallTimeoutMs} ms`, ErrorCode.ServiceUnavailable));
    }, this.stallTimeoutMs);
    slot.watchdog.unref();
  }

  private async fail(slot: Slot, failure: TapwireError): Promise<void> {
    log.error({ code: failure.code, jobs: slot.waiters.size, failures: slot.failures + 1 }, failure.message);
    slot.failures += 1;
    await this.retire(slot, failure);
    if (!this.running || !this.slots.includes(slot)) return;
    if (slot.failures > this.respawnsMax) {
      log.error({ code: failure.code, respawnsMax: this.respawnsMax }, "verify worker not replaced again; its share is checked on the main thread");
      return;
    }
    const delayMs = Math.min(this.respawnDelayMsMax, this.respawnDelayMsMin * 2 ** (slot.failures - 1));
    slot.respawnTimer = setTimeout(() => {
      slot.respawnTimer = undefined;
      if (this.running) this.spawn(slot);
    }, delayMs);
    slot.respawnTimer.unref();
  }

  /** Detaches the worker from its slot first, so its late events are ignored, then fails its jobs and ends it. */
  private async retire(slot: Slot, failure: TapwireError): Promise<void> {
    const worker = slot.worker;
    slot.worker = undefined;
    slot.ready = false;
    clearTimeout(slot.watchdog);
    slot.watchdog = undefined;
    slot.cancelGather?.();
    slot.cancelGather = undefined;
    const waiters = [...slot.waiters.values()];
    slot.waiters.clear();
    slot.outbox = [];
    this.queued -= waiters.length;
    for (const waiter of waiters) waiter.reject(failure);
    await worker?.terminate();
  }
}

/**
 * The jobs with their bytes copied into one buffer for the message. Posting clones, whole, each distinct buffer a
 * typed array views (a job's pooled copy would send its 8 KB pool block), and every clone is a memory block of its
 * own on both threads, ~4 µs apiece here (protocol/bytes.ts pooledCopy): one for the message's jobs, not one each.
 */
function packed(jobs: PoolRequest["jobs"]): PoolRequest["jobs"] {
  let total = 0;
  for (const { job } of jobs) total += job.bytes.length;
  const all = new Uint8Array(total);
  let at = 0;
  return jobs.map(({ id, job }) => {
    const bytes = all.subarray(at, at + job.bytes.length);
    bytes.set(job.bytes);
    at += job.bytes.length;
    return { id, job: { ...job, bytes } };
  });
}

/**
 * The worker's entry: the compiled verify-worker.js when this module runs from the build (dist/), else the plain-JS
 * verify-worker.mjs that registers tsx first (a worker thread does not inherit the parent's TypeScript loader).
 */
function defaultWorkerUrl(): URL {
  return new URL(import.meta.url.endsWith(".js") ? "./verify-worker.js" : "./verify-worker.mjs", import.meta.url);
}
