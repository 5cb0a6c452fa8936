import { performance } from "node:perf_hooks";
import { assert } from "../../core/assert.ts";
import { logger } from "../../core/log.ts";
import type { Clock } from "../../core/sources.ts";
import { readEnvelope } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { describeUnverified, type Inbound, type Outbound, type Recipient } from "../decisions/verdicts.ts";
import { admit, senderOf, type Admission, type AdmissionDeps } from "./admission.ts";
import type { Answerer } from "./answers.ts";
import { LoadShedder } from "./load-shedder.ts";
import { PrecheckJobs, Prechecked, inlineChecks, type PrecheckJob, type PrecheckResult, type SignatureChecks } from "./prechecks.ts";
import { storageFault, type StorageWatch } from "./storage-faults.ts";
import type { VerifyPool } from "./verify-pool.ts";
import type { ProviderOutcome } from "../providers/provider-gateway.ts";
import type { ProviderStage } from "../providers/provider-stage.ts";
import { UnverifiedReading } from "../decisions/unverified-reading.ts";

const log = logger("tapwire:settlement");

/** How long a request refused for a storage fault is told to wait before its retry. */
export const storageRetryAfterMs = 2_000;

/**
 * Committed batches waiting for their sync at most (ledger/wal-sync.ts): a disk that stalls holds this many batches'
 * answers, then the queue fills and admission sheds. Syncs coalesce (one runs, the batches committed meanwhile share
 * the next), so a healthy disk rarely has more than two waiting. Allowing only one (the next batch waits for the
 * sync, as with synchronous=FULL) made batches larger but cost throughput: 1,490 against 1,735 approved/s in a pair
 * of bench runs, as the main thread idles through the fsync when it has nothing else to do.
 */
export const syncingBatchesMax = 8;

/** Group-commit transactions committed so far and the messages in them (their ratio is the mean batch). */
export interface CommitCounts {
  batches: number;
  messages: number;
}

/** What admission has refused so far: answered Overloaded, or dropped unanswered past the answer budget. */
export interface ShedCounts {
  answered: number;
  unanswered: number;
}

export interface BatcherOptions {
  queueMax: number;
  queuedPerSenderMax: number;
  queueWaitMsMax: number;
  batchMax: number;
  clock: Clock;
  onCrash: (error: unknown) => void;
}

/** Signature checks on worker threads while a message waits in the queue (prechecks.ts, verify-pool.ts). */
export interface Prechecks {
  pool: VerifyPool;
  jobs: PrecheckJobs;
}

/** What a running service gives the batcher: the steps before, in and around the batch transaction. */
export interface BatchWork {
  admission: AdmissionDeps;
  prechecks: Prechecks | undefined;
  /** The wallet provider round trip a payment makes while it waits in the queue (providers/provider-stage.ts). */
  providers?: ProviderStage;
  /** The pipeline over a whole batch in one IMMEDIATE transaction: the group commit (its commit may not be synced yet). */
  commitBatch: (admitted: readonly Admission[]) => Outbound[][];
  /** Resolves once every commit before the call is on disk (ledger/wal-sync.ts); a rejection is a crash. */
  synced: () => Promise<void>;
  /**
   * Runs reads that belong together on one snapshot (on SQLite, one read transaction: a statement on its own pays
   * for taking a WAL snapshot, about 4× a lookup's cost). `read` answers its own storage faults.
   */
  readTogether: <T>(read: () => T) => T;
  answerer: Answerer;
}

interface Pending {
  inbound: Inbound;
  /** Its bytes decoded once, for the precheck job, the provider stage and admission. */
  reading: UnverifiedReading;
  resolve: (outbound: Outbound[]) => void;
  reject: (error: TapwireError) => void;
  /** A worker is checking its signatures; the drain loop passes over it and its sender's later messages. */
  checking: boolean;
  checks: SignatureChecks;
  /** Its wallet's provider is being asked; the drain loop passes over it as over one being checked. */
  asking: boolean;
  provider: ProviderOutcome | undefined;
}

/**
 * Group commit (TigerBeetle style: queue external events, work through them in batches): `handle` only
 * enqueues; a drain loop takes up to batchMax messages, verifies and admits them, then runs all of them in one
 * SQLite transaction, commits, and only then resolves the callers. Nothing is announced approved before it is
 * durable, and one fsync covers the whole batch.
 *
 * With a verify pool, a hub request's signatures are checked on a worker thread while it waits in the queue. The
 * drain loop takes the messages whose checks are done, in arrival order, keeping each sender's messages in order
 * (a hub's seq stays increasing).
 *
 * Lives as long as the service (its counts and measured rate survive a restart); each start hands it that run's work.
 */
export class Batcher {
  private readonly queue: Pending[] = [];
  /** Requests queued per sender (`hub/h1`): one principal may not fill the queue for everyone. */
  private readonly queuedBySender = new Map<string, number>();
  private readonly shedder = new LoadShedder();
  private readonly shed: ShedCounts = { answered: 0, unanswered: 0 };
  private readonly committed: CommitCounts = { batches: 0, messages: 0 };
  /** When the last batch ended with requests still waiting: the next batch's time from then measures busy throughput. */
  private busySinceMs: number | undefined;
  private work: BatchWork | undefined;
  private open = false;
  /** A batch hit a bug: the queue is abandoned (the process is about to die) and close() does not wait for it. */
  private crashed = false;
  private drainScheduled = false;
  /** Messages whose provider lookup waits for the next turn, to be looked up together. */
  private toAsk: Pending[] = [];
  /** Committed batches waiting for their sync before they answer. */
  private syncing = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly options: BatcherOptions,
    private readonly storage: StorageWatch,
  ) {}

  get accepting(): boolean {
    return this.open;
  }

  get queueLength(): number {
    return this.queue.length;
  }

  get shedCounts(): ShedCounts {
    return { ...this.shed };
  }

  get commitCounts(): CommitCounts {
    return { ...this.committed };
  }

  start(work: BatchWork): void {
    this.work = work;
    this.open = true;
  }

  /** Stops accepting; resolves once what is queued is answered (bounded by queueMax), or at once after a crash. */
  close(): Promise<void> {
    this.open = false;
    return new Promise<void>((resolve) => {
      if (this.crashed || this.idle()) resolve();
      else this.idleWaiters.push(resolve);
    });
  }

  /** Resolves once the answer is durable; rejects with ServiceUnavailable when not accepting. */
  handle(inbound: Inbound, reading = new UnverifiedReading(inbound.payload)): Promise<Outbound[]> {
    assert(isId(inbound.id), `inbound id ${inbound.id} is not a topic id`);
    if (!this.open) {
      return Promise.reject(new TapwireError("settlement service is not running", ErrorCode.ServiceUnavailable));
    }
    const sender = senderKey(inbound);
    const queuedBySender = this.queuedBySender.get(sender) ?? 0;
    const full = this.queue.length >= this.options.queueMax || this.shedder.drainMs(this.queue.length) > this.options.queueWaitMsMax;
    if (full || queuedBySender >= this.options.queuedPerSenderMax) {
      return Promise.resolve(this.overloaded(inbound));
    }
    return new Promise<Outbound[]>((resolve, reject) => {
      const pending: Pending = {
        inbound,
        reading,
        resolve,
        reject,
        checking: false,
        checks: inlineChecks,
        asking: false,
        provider: undefined,
      };
      this.queue.push(pending);
      this.queuedBySender.set(sender, queuedBySender + 1);
      this.precheck(pending);
      this.askProvider(pending);
      this.scheduleDrain();
    });
  }

  /** A bug: the batch's transaction rolled back; stop taking work and let the process die (see options.onCrash). */
  crash(error: unknown, batchSize: number, what = "settlement batch hit a bug; nothing of it was kept; the service stops"): void {
    this.open = false;
    this.crashed = true;
    for (const wake of this.idleWaiters.splice(0)) wake();
    log.fatal({ err: error, batchSize }, what);
    this.options.onCrash(error);
  }

  private started(): BatchWork {
    assert(this.work, "the batcher works only after start");
    return this.work;
  }

  /**
   * Refused at the door, without touching the ledger: a signed Overloaded with the retry-after the queue ahead
   * implies, while the answer budget lasts (each answer is a signature); past it, no answer at all (the sender's own
   * timeout and backoff take over). Either way the work spent on a shed request is small and bounded.
   */
  private overloaded(inbound: Inbound): Outbound[] {
    const work = this.started();
    const nowMs = this.options.clock.nowMs();
    if (!this.shedder.takeAnswer(nowMs)) {
      this.shed.unanswered += 1;
      return [];
    }
    this.shed.answered += 1;
    let payload: Uint8Array | undefined;
    try {
      payload = readEnvelope(inbound.payload).payload;
    } catch {
      // Under overload an unreadable message gets the bare decline; there is no time to say more.
    }
    const error = new TapwireError(`${this.queue.length} messages queued (max ${this.options.queueMax})`, ErrorCode.Overloaded);
    const summary = describeUnverified(payload, inbound);
    return work.answerer.refuse(summary, error, [{ kind: inbound.kind, id: inbound.id }], nowMs, this.shedder.retryAfterMs(this.queue.length));
  }

  /** Hands the message's signature checks to a worker when there is one to take them. */
  private precheck(pending: Pending): void {
    const prechecks = this.started().prechecks;
    if (prechecks === undefined) return;
    let job: PrecheckJob | undefined;
    try {
      job = prechecks.jobs.jobFor(pending.inbound, pending.reading);
    } catch (error) {
      // Admission meets the same fault inline and answers it as it always did.
      log.warn({ err: error, kind: pending.inbound.kind, id: pending.inbound.id }, "precheck skipped");
      return;
    }
    const checked = job && prechecks.pool.submit(job);
    if (!job || !checked) return;
    const submitted = job;
    pending.checking = true;
    checked.then(
      (result: PrecheckResult) => this.prechecked(pending, new Prechecked(submitted, result)),
      // The worker died or stalled: check this request on the main thread instead. Failing it would make the
      // hub retry after later seqs were accepted, and its payment would then be refused as SeqReplayed.
      (error: unknown) => {
        log.warn({ err: error, kind: pending.inbound.kind, id: pending.inbound.id }, "worker check failed; checking inline");
        this.prechecked(pending, inlineChecks);
      },
    );
  }

  /**
   * Asks the paying wallet's provider while the payment waits (the batch transaction cannot wait on a network). The
   * gateway bounds the wait (contract.providerAnswerMsMax) and settles every ask with an outcome, never a rejection.
   */
  private askProvider(pending: Pending): void {
    if (this.started().providers === undefined) return;
    pending.asking = true;
    // Scheduled before the drain this message schedules, so the lookups of a turn's messages run first, together.
    if (this.toAsk.push(pending) === 1) setImmediate(() => this.askTogether());
  }

  private askTogether(): void {
    const work = this.started();
    const providers = work.providers;
    assert(providers !== undefined, "messages wait for a provider lookup only with a provider stage");
    const pendings = this.toAsk.splice(0);
    let asks: Array<Promise<ProviderOutcome> | undefined>;
    try {
      asks = work.readTogether(() => pendings.map((pending) => providers.prepare(pending.inbound, pending.reading)));
    } catch (error) {
      if (storageFault(error) === undefined) {
        this.crash(error, 0, "a provider lookup hit a bug; the service stops");
        return;
      }
      // Nobody is asked; the batch meets the same storage and answers each payment for it.
      log.warn({ err: error, messages: pendings.length }, "provider lookups failed on storage");
      asks = pendings.map(() => undefined);
    }
    pendings.forEach((pending, index) => {
      const asked = asks[index];
      if (asked === undefined) {
        pending.asking = false;
        return;
      }
      void asked.then((outcome) => {
        pending.asking = false;
        pending.provider = outcome;
        this.scheduleDrain();
      });
    });
    this.scheduleDrain();
  }

  private prechecked(pending: Pending, checks: SignatureChecks): void {
    pending.checking = false;
    pending.checks = checks;
    this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    // setImmediate, not a microtask: lets I/O callbacks enqueue more work first, which is what fills a batch.
    setImmediate(() => this.drainOnce());
  }

  private drainOnce(): void {
    this.drainScheduled = false;
    if (this.syncing >= syncingBatchesMax) return;
    const batch = this.takeReady();
    if (batch.length > 0) {
      try {
        this.processBatch(batch);
      } catch (error) {
        this.crash(error, batch.length);
        return;
      }
    }
    if (this.queue.length === 0) {
      this.wakeIfIdle();
      return;
    }
    // Messages still being checked (or asked about) schedule the next drain themselves when that ends.
    if (this.queue.some((pending) => !busy(pending))) this.scheduleDrain();
  }

  /**
   * Up to batchMax messages whose checks are done, in arrival order, passing over one still being checked and
   * every later message of that same sender (a sender's messages keep their order, so a hub's seq stays increasing).
   * Stopping at the first message being checked instead starves a backlog: batches shrink to what the head lets
   * through, each pays its own fsync, the measured rate falls, and admission sheds ever more.
   */
  private takeReady(): Pending[] {
    const batch: Pending[] = [];
    const kept: Pending[] = [];
    const held = new Set<string>();
    for (const pending of this.queue) {
      const sender = senderKey(pending.inbound);
      if (batch.length < this.options.batchMax && !busy(pending) && !held.has(sender)) {
        batch.push(pending);
      } else {
        if (busy(pending)) held.add(sender);
        kept.push(pending);
      }
    }
    if (batch.length > 0) this.queue.splice(0, this.queue.length, ...kept);
    return batch;
  }

  private processBatch(batch: Pending[]): void {
    const work = this.started();
    for (const item of batch) this.dequeued(item.inbound);
    // admit() answers every operating fault itself (a refusal); anything it throws is a bug and crashes the service.
    const admitted = work.readTogether(() =>
      batch.map((item) => withProvider(admit(item.inbound, work.admission, item.checks, item.reading), item.provider)),
    );
    let answers: Outbound[][];
    try {
      answers = work.commitBatch(admitted);
    } catch (error) {
      const fault = storageFault(error);
      if (fault === undefined) throw error;
      this.storage.failed(fault, batch.length);
      // Nothing of the batch was kept: each sender hears so, signed, and retries the same bytes later.
      const nowMs = this.options.clock.nowMs();
      batch.forEach((item, index) => item.resolve(work.answerer.refuse(admitted[index]!.summary, fault, recipientsOf(admitted[index]!), nowMs, storageRetryAfterMs)));
      return;
    }
    this.storage.works();
    this.committed.batches += 1;
    this.committed.messages += batch.length;
    const endedMs = performance.now();
    if (this.busySinceMs !== undefined) this.shedder.recordBusyBatch(batch.length, endedMs - this.busySinceMs);
    this.busySinceMs = this.queue.length > 0 ? endedMs : undefined;
    log.debug({ batchSize: batch.length, queued: this.queue.length }, "settlement batch committed");
    // The next batch runs while this one's sync does; nothing of this one is told before it is on disk.
    this.syncing += 1;
    work.synced().then(
      () => {
        this.syncing -= 1;
        if (this.crashed) return;
        this.answer(batch, answers, work);
        if (this.queue.length > 0) this.scheduleDrain();
        this.wakeIfIdle();
      },
      (error: unknown) =>
        this.crash(error, batch.length, "the disk refused to sync a committed batch; none of it was answered (a retry finds it if it was kept); the service stops"),
    );
  }

  private answer(batch: readonly Pending[], answers: readonly Outbound[][], work: BatchWork): void {
    // A provider's approval the batch did not post (it declined the payment) is released at the provider.
    for (const item of batch) if (item.provider?.ok) work.providers?.settled(item.provider, "declined by the settlement service after the provider approved");
    work.providers?.flushNotices();
    batch.forEach((item, index) => item.resolve(answers[index]!));
  }

  private idle(): boolean {
    return this.queue.length === 0 && !this.drainScheduled && this.syncing === 0;
  }

  private wakeIfIdle(): void {
    if (this.idle()) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private dequeued(inbound: Inbound): void {
    const sender = senderKey(inbound);
    const left = (this.queuedBySender.get(sender) ?? 1) - 1;
    if (left > 0) this.queuedBySender.set(sender, left);
    else this.queuedBySender.delete(sender);
  }
}

function busy(pending: Pending): boolean {
  return pending.checking || pending.asking;
}

/** A hub payment carries its provider's answer into the batch. */
function withProvider(admission: Admission, provider: ProviderOutcome | undefined): Admission {
  return provider !== undefined && admission.outcome === "hub_request" ? { ...admission, provider } : admission;
}

function senderKey(inbound: Inbound): string {
  return `${inbound.kind}/${inbound.id}`;
}

/** Who hears a refusal of a message: its sender (the wallet for a tag payment, as it is the one waiting). */
function recipientsOf(admission: Admission): Recipient[] {
  return admission.outcome === "refused" ? admission.recipients : [senderOf(admission)];
}
