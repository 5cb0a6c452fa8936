import { createPublicKey, type KeyObject } from "node:crypto";
import { assert } from "../../core/assert.ts";
import { readEnvelope } from "../../protocol/envelope.ts";
import { performance } from "node:perf_hooks";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { logger } from "../../core/log.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { openSqliteDb, type SqliteDb } from "../ledger/sqlite-db.ts";
import { SqliteLedger, ledgerSchema } from "../ledger/sqlite-ledger.ts";
import { Registry } from "../registry/registry.ts";
import { registrySchema } from "../registry/registry-schema.ts";
import type { CaseKind, CaseStatus, OperatorAction } from "../../protocol/review.ts";
import { AgentPayments } from "../agents/agent-payments.ts";
import { AgentRegistry } from "../agents/agent-registry.ts";
import { agentSchema } from "../agents/agent-schema.ts";
import { MandateStore, type AgentPaymentRecord, type MandateRecord } from "../agents/mandate-store.ts";
import { CampaignAdmin } from "../campaigns/campaign-admin.ts";
import { campaignSchema } from "../campaigns/campaign-schema.ts";
import { CampaignStore } from "../campaigns/campaign-store.ts";
import { CampaignRedemptions } from "../campaigns/redemptions.ts";
import { evidenceSchema } from "../evidence/evidence-schema.ts";
import { EvidenceStore } from "../evidence/evidence-store.ts";
import { verifyEvidenceDb, type EvidenceReport } from "../evidence/verify-evidence.ts";
import { ReviewDesk } from "../review/review-desk.ts";
import { reviewSchema } from "../review/review-schema.ts";
import { ReviewStore, caseListMax, pushBatchMax, type ReviewCase } from "../review/review-store.ts";
import { resolveReviewPolicy, type ReviewPolicy } from "../review/risk.ts";
import { admit, type Admission, type Inbound, type Recipient } from "./admission.ts";
import { Answerer } from "./answers.ts";
import { DecisionSigner, describeUnverified } from "./decisions.ts";
import { resolveSettlementOptions, type ResolvedSettlementOptions, type SettlementOptions } from "./options.ts";
import { hceVerifier, type PayerVerifier } from "./payer-verifier.ts";
import { PrecheckJobs, Prechecked, inlineChecks, type PrecheckJob, type PrecheckResult, type SignatureChecks } from "./prechecks.ts";
import { OfflineStore, type OfflineLoss } from "./offline-store.ts";
import { RequestProcessor, type Outbound } from "./request-processor.ts";
import { settlementSchema } from "./settlement-schema.ts";
import { SettlementStore, settlementListMax, type BatchRecord, type PaymentRecord } from "./settlement-store.ts";
import { LoadShedder } from "./load-shedder.ts";
import { storageFault } from "./storage-faults.ts";
import { VerifyPool } from "./verify-pool.ts";

export type { Inbound } from "./admission.ts";
export type { Outbound } from "./request-processor.ts";

const log = logger("tapwire:settlement");

/** Rows of each kind one sweep may prune: well above the rate records are written at the bench's ~3k payments/s. */
export const pruneRowsPerSweepMax = 10_000;

interface Pending {
  inbound: Inbound;
  resolve: (outbound: Outbound[]) => void;
  reject: (error: TapwireError) => void;
  /** A worker is checking its signatures; the drain loop stops in front of it to keep arrival order. */
  checking: boolean;
  checks: SignatureChecks;
}

/** Whether the ledger's storage takes writes; the operator sees this (dashboard, log at error). */
export type StorageHealth = { state: "ok" } | { state: "failing"; sinceMs: number; code: string; failedBatches: number };

/** What admission has refused so far: answered Overloaded, or dropped unanswered past the answer budget. */
export interface ShedCounts {
  answered: number;
  unanswered: number;
}

/** How long a request refused for a storage fault is told to wait before its retry. */
export const storageRetryAfterMs = 2_000;

/** Receives decisions made outside any request (an operator's answer, an expired case) for publishing. */
export type PushListener = (outbound: Outbound) => void;
export const pushListenersMax = 8;

interface Running {
  db: SqliteDb;
  ledger: SqliteLedger;
  registry: Registry;
  store: SettlementStore;
  offline: OfflineStore;
  processor: RequestProcessor;
  agents: AgentRegistry;
  mandates: MandateStore;
  reviews: ReviewStore;
  desk: ReviewDesk;
  evidence: EvidenceStore;
  campaigns: CampaignAdmin;
  /** The next sweep's timer, re-armed after each sweep (a one-shot on injected timers, not an interval). */
  sweepTimer: unknown;
  prechecks: { pool: VerifyPool; jobs: PrecheckJobs } | undefined;
  /** One IMMEDIATE transaction over a whole batch: the group commit. */
  commitBatch: (admitted: ReadonlyArray<Admission | undefined>) => Array<Outbound[] | undefined>;
}

/**
 * Verifies, authorizes and posts what hubs and wallets send, and answers with signed decisions.
 *
 * Group commit (TigerBeetle style: queue external events, work through them in batches): `handle` only
 * enqueues; a drain loop takes up to batchMax messages, checks their signatures, then runs all of them in one
 * SQLite transaction — gates, postings, decisions signed and stored — commits, and only then resolves the
 * callers. Nothing is announced approved before it is durable, and one fsync covers the whole batch.
 *
 * With verifyWorkers > 0, a hub request's signatures are checked on a worker thread while it waits in the
 * queue (prechecks.ts, verify-pool.ts). The drain loop takes only the queue's head up to the first message
 * still being checked, so messages reach the transaction in arrival order (a hub's seq stays increasing).
 */
export class SettlementService {
  private readonly options: ResolvedSettlementOptions;
  private readonly signer: DecisionSigner;
  private readonly policy: ReviewPolicy;
  private readonly pushListeners = new Set<PushListener>();
  private readonly queue: Pending[] = [];
  /** Requests queued per sender (`hub/h1`): one principal may not fill the queue for everyone. */
  private readonly queuedBySender = new Map<string, number>();
  private readonly shedder = new LoadShedder();
  private readonly shed: ShedCounts = { answered: 0, unanswered: 0 };
  private storage: StorageHealth = { state: "ok" };
  /** When the last batch ended with requests still waiting: the next batch's time from then measures busy throughput. */
  private busySinceMs: number | undefined;
  private running: Running | undefined;
  private accepting = false;
  /** A batch hit a bug: the queue is abandoned (the process is about to die) and stop() does not wait for it. */
  private crashed = false;
  private drainScheduled = false;
  private idleWaiters: Array<() => void> = [];
  private stopping: Promise<void> | undefined;

  constructor(options: SettlementOptions) {
    this.options = resolveSettlementOptions(options);
    this.signer = new DecisionSigner(this.options.serviceKey, this.options.decisionTtlMs);
    this.policy = resolveReviewPolicy(options.review);
  }

  /** Opens (and migrates) the database; after this `handle`, `ledger` and `registry` work. */
  async start(): Promise<void> {
    assert(!this.running && !this.stopping, "SettlementService started twice or while stopping");
    const { databasePath, clock, payerVerifiers, schemaComponents } = this.options;
    const components = [ledgerSchema, registrySchema, settlementSchema, agentSchema, reviewSchema, evidenceSchema, campaignSchema, ...schemaComponents];
    const db = openSqliteDb({ path: databasePath, components, clock });
    const ledger = new SqliteLedger(db, clock);
    const registry = new Registry(db, ledger, clock);
    const store = new SettlementStore(db);
    const offline = new OfflineStore(db);
    const agents = new AgentRegistry(db, clock);
    const mandates = new MandateStore(db);
    const reviews = new ReviewStore(db);
    const evidence = new EvidenceStore(db);
    const answerer = new Answerer({ store, evidence, signer: this.signer });
    const campaignStore = new CampaignStore(db);
    const campaigns = new CampaignAdmin({ db, ledger, registry, store: campaignStore, evidence, clock });
    const verifiers = new Map<string, PayerVerifier>([hceVerifier, ...payerVerifiers].map((v) => [v.kind, v]));
    // The desk posts what it held through the processor, which is built after it: a late-bound poster.
    let processor: RequestProcessor | undefined;
    const desk = new ReviewDesk({
      store: reviews,
      answerer,
      evidence,
      policy: this.policy,
      poster: {
        post: (held, caseId, nowMs) => {
          assert(processor, "processor exists before any case is decided");
          return processor.postHeld(held, caseId, nowMs);
        },
      },
    });
    const agentPayments = new AgentPayments({ db, registry, ledger, mandates, desk, policy: this.policy });
    const redemptions = new CampaignRedemptions({ db, store: campaignStore, evidence });
    processor = new RequestProcessor({
      db,
      registry,
      ledger,
      store,
      offline,
      signer: this.signer,
      verifiers,
      clockSkewMs: this.options.clockSkewMs,
      requestLifetimeMsMax: this.options.requestLifetimeMsMax,
      answerer,
      desk,
      reviews,
      policy: this.policy,
      agentPayments,
      agents,
      mandates,
      disputes: { db, ledger, store, mandates, campaigns: redemptions },
      campaigns: redemptions,
    });
    const ready = processor;
    const batchTransaction = db.transaction((admitted: ReadonlyArray<Admission | undefined>) => {
      const nowMs = clock.nowMs();
      return admitted.map((admission) => (admission ? ready.process(admission, nowMs) : undefined));
    });
    const { verifyWorkers, verifyWorkerUrl, queueMax } = this.options;
    const pool =
      verifyWorkers > 0 ? new VerifyPool({ size: verifyWorkers, jobsQueuedMax: queueMax, ...(verifyWorkerUrl ? { workerUrl: verifyWorkerUrl } : {}) }) : undefined;
    pool?.start();
    const prechecks = pool ? { pool, jobs: new PrecheckJobs(registry) } : undefined;
    this.running = {
      db,
      ledger,
      registry,
      store,
      offline,
      processor,
      agents,
      mandates,
      reviews,
      desk,
      evidence,
      campaigns,
      sweepTimer: undefined,
      prechecks,
      commitBatch: (admitted) => batchTransaction.immediate(admitted),
    };
    this.accepting = true;
    this.armSweep(this.running);
    log.info({ databasePath }, "settlement service started");
  }

  /** Stops accepting, drains what is queued (bounded by queueMax), then closes the database. */
  stop(): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.stopping ??= this.drainAndClose(this.running);
    return this.stopping;
  }

  private async drainAndClose(running: Running): Promise<void> {
    this.accepting = false;
    this.options.timers.clearTimeout(running.sweepTimer);
    running.sweepTimer = undefined;
    await new Promise<void>((resolve) => {
      if (this.crashed || (this.queue.length === 0 && !this.drainScheduled)) resolve();
      else this.idleWaiters.push(resolve);
    });
    running.db.close();
    await running.prechecks?.pool.stop();
    this.running = undefined;
    this.stopping = undefined;
    log.info("settlement service stopped");
  }

  /**
   * Answers one message. (kind, id) must come from the MQTT topic, which the broker lets only that principal
   * publish to. Resolves once the answer is durable; rejects with ServiceUnavailable when not started.
   */
  handle(inbound: Inbound): Promise<Outbound[]> {
    assert(isId(inbound.id), `inbound id ${inbound.id} is not a topic id`);
    if (!this.accepting) {
      return Promise.reject(new TapwireError("settlement service is not running", ErrorCode.ServiceUnavailable));
    }
    const sender = senderOf(inbound);
    const queuedBySender = this.queuedBySender.get(sender) ?? 0;
    const full = this.queue.length >= this.options.queueMax || this.shedder.drainMs(this.queue.length) > this.options.queueWaitMsMax;
    if (full || queuedBySender >= this.options.queuedPerSenderMax) {
      return Promise.resolve(this.overloaded(inbound));
    }
    return new Promise<Outbound[]>((resolve, reject) => {
      const pending: Pending = { inbound, resolve, reject, checking: false, checks: inlineChecks };
      this.queue.push(pending);
      this.queuedBySender.set(sender, queuedBySender + 1);
      this.precheck(pending);
      this.scheduleDrain();
    });
  }

  get ledger(): Ledger {
    return this.started().ledger;
  }

  get registry(): Registry {
    return this.started().registry;
  }

  /**
   * The settlement database, for modules that keep their own tables in it (declared via schemaComponents)
   * so their writes join the same transactions, e.g. a glasses payer verifier's pairings.
   */
  get database(): SqliteDb {
    return this.started().db;
  }

  /** The key hubs and wallets verify decisions with. */
  get publicKey(): KeyObject {
    return createPublicKey(this.options.serviceKey);
  }

  /** Signature-check workers loaded and taking jobs (they load in the background after start). */
  get verifyWorkersReady(): number {
    return this.started().prechecks?.pool.workersReady ?? 0;
  }

  /** Messages waiting for the drain loop. */
  get queueLength(): number {
    return this.queue.length;
  }

  /** Requests refused at admission so far. */
  get shedCounts(): ShedCounts {
    return { ...this.shed };
  }

  get storageHealth(): StorageHealth {
    return this.storage;
  }

  paymentsOf(merchantId: string, limit = settlementListMax): PaymentRecord[] {
    return this.started().store.paymentsOf(merchantId, limit);
  }

  findPayment(hubId: string, requestId: string): PaymentRecord | undefined {
    return this.started().store.findPayment(hubId, requestId);
  }

  batchReportsOf(hubId: string, limit = settlementListMax): BatchRecord[] {
    return this.started().store.batchReportsOf(hubId, limit);
  }

  /** Offline sales declined when forwarded, oldest first: of one merchant, or of all (at most `limit`). */
  offlineLosses(filter: { merchantId?: string; limit?: number } = {}): OfflineLoss[] {
    return this.started().offline.losses({ ...filter, limit: filter.limit ?? settlementListMax });
  }

  /** Promotions with a hard budget: define, stop, list (an operator's tools; payments use them in the batch). */
  get campaigns(): CampaignAdmin {
    return this.started().campaigns;
  }

  /** Enrolled agents (their MQTT identities). */
  get agents(): AgentRegistry {
    return this.started().agents;
  }

  findMandate(mandateId: string): MandateRecord | undefined {
    return this.started().mandates.findMandate(mandateId);
  }

  mandatesOf(walletId: string): MandateRecord[] {
    return this.started().mandates.mandatesOf(walletId);
  }

  agentPaymentsOf(mandateId: string): AgentPaymentRecord[] {
    return this.started().mandates.paymentsOfMandate(mandateId);
  }

  listReviews(filter: { status?: CaseStatus; kind?: CaseKind; limit?: number } = {}): ReviewCase[] {
    return this.started().reviews.list({ ...filter, limit: filter.limit ?? caseListMax });
  }

  findReview(caseId: string): ReviewCase | undefined {
    return this.started().reviews.find(caseId);
  }

  /**
   * An operator approves or declines a review or a dispute, exactly once (ReviewAlreadyDecided after that,
   * also from another process on the same file: the IMMEDIATE transaction serialises them). The final
   * decision is signed, stored as evidence, queued, and handed to onPush listeners.
   */
  decideReview(caseId: string, action: OperatorAction, operatorId: string): Outbound[] {
    const running = this.started();
    const outcome = running.db.transaction(() => running.desk.decide(caseId, action, operatorId, this.options.clock.nowMs())).immediate();
    this.flushPushes();
    return outcome.pushes;
  }

  /** Declines expired cases and publishes queued pushes; the service runs it every sweepIntervalMs. */
  sweepReviews(): number {
    const running = this.started();
    const expired = running.db.transaction(() => running.desk.expire(this.options.clock.nowMs())).immediate();
    this.flushPushes();
    return expired;
  }

  /** Listens for pushed decisions; returns the function that removes the listener. */
  onPush(listener: PushListener): () => void {
    assert(this.pushListeners.size < pushListenersMax, `more than ${pushListenersMax} push listeners`);
    this.pushListeners.add(listener);
    return () => this.pushListeners.delete(listener);
  }

  /**
   * Hands queued pushes (also those another process queued, e.g. the review CLI) to the listeners, at most
   * pushBatchMax per call. With no listener they wait. Marked sent once handed over: a requester that missed
   * one retries its request and gets the final decision, which replaced the held one.
   */
  flushPushes(): number {
    const running = this.started();
    if (this.pushListeners.size === 0) return 0;
    const pushes = running.reviews.unsentPushes(pushBatchMax);
    const nowMs = this.options.clock.nowMs();
    for (const push of pushes) {
      for (const listener of this.pushListeners) {
        try {
          listener({ kind: push.kind, id: push.id, payload: push.payload, expiresAtMs: push.expMs });
        } catch (error) {
          log.error({ err: error, pushId: push.pushId }, "push listener failed");
        }
      }
    }
    if (pushes.length > 0) running.db.transaction(() => pushes.forEach((push) => running.reviews.markSent(push.pushId, nowMs))).immediate();
    return pushes.length;
  }

  /** Checks this database's evidence offline-style: chain, signatures, answered requests, ledger. */
  verifyEvidence(): EvidenceReport {
    return verifyEvidenceDb(this.started().db, this.publicKey);
  }

  /** The next sweep in sweepIntervalMs; each sweep arms the one after it while the service runs. */
  private armSweep(running: Running): void {
    const timer = this.options.timers.setTimeout(() => {
      if (this.running !== running || !this.accepting) return;
      this.sweep();
      this.armSweep(running);
    }, this.policy.sweepIntervalMs);
    // A real timer must not keep the process alive on its own (as the interval it replaces did not).
    (timer as { unref?: () => void } | undefined)?.unref?.();
    running.sweepTimer = timer;
  }

  /**
   * Expires held cases, publishes pushes, prunes idempotency records. A storage fault is counted and logged at
   * error (the next sweep tries again, and storageHealth says so); anything else is a bug and crashes the service.
   */
  private sweep(): void {
    if (!this.accepting) return;
    try {
      this.sweepReviews();
      this.pruneIdempotency();
      this.storageWorks();
    } catch (error) {
      const fault = storageFault(error);
      if (fault === undefined) {
        this.crash(error, 0);
        return;
      }
      this.storageFailed(fault, 0);
    }
  }

  /**
   * Drops idempotency records and nonces older than idempotencyRetentionMs, at most rowsMax of each per call;
   * every sweep runs it, which keeps up with pruneRowsPerSweepMax per sweep interval. A request that old is
   * refused by its own exp long before, so no retry can slip through once its record is gone.
   */
  pruneIdempotency(rowsMax = pruneRowsPerSweepMax): { decisions: number; nonces: number } {
    const running = this.started();
    const cutoffMs = this.options.clock.nowMs() - this.options.idempotencyRetentionMs;
    return running.db.transaction(() => running.store.pruneBefore(cutoffMs, rowsMax)).immediate();
  }

  private started(): Running {
    if (!this.running) throw new TapwireError("settlement service is not started", ErrorCode.ServiceUnavailable);
    return this.running;
  }

  /**
   * Refused at the door, without touching the ledger: a signed Overloaded with the retry-after the queue ahead
   * implies, while the answer budget lasts (each answer is a signature); past it, no answer at all (the sender's own
   * timeout and backoff take over). Either way the work spent on a shed request is small and bounded.
   */
  private overloaded(inbound: Inbound): Outbound[] {
    const running = this.started();
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
    return running.processor.refuse(summary, error, [{ kind: inbound.kind, id: inbound.id }], nowMs, this.shedder.retryAfterMs(this.queue.length));
  }

  /** Hands the message's signature checks to a worker when there is one to take them. */
  private precheck(pending: Pending): void {
    const prechecks = this.started().prechecks;
    if (prechecks === undefined) return;
    let job: PrecheckJob | undefined;
    try {
      job = prechecks.jobs.jobFor(pending.inbound);
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
    const limit = Math.min(this.queue.length, this.options.batchMax);
    let ready = 0;
    while (ready < limit && !this.queue[ready]!.checking) ready += 1;
    const batch = this.queue.splice(0, ready);
    if (batch.length > 0) {
      try {
        this.processBatch(batch);
      } catch (error) {
        this.crash(error, batch.length);
        return;
      }
    }
    if (this.queue.length === 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
      return;
    }
    // A head still being checked schedules the next drain itself when its check ends.
    if (!this.queue[0]!.checking) this.scheduleDrain();
  }

  private processBatch(batch: Pending[]): void {
    const running = this.started();
    for (const item of batch) {
      const sender = senderOf(item.inbound);
      const left = (this.queuedBySender.get(sender) ?? 1) - 1;
      if (left > 0) this.queuedBySender.set(sender, left);
      else this.queuedBySender.delete(sender);
    }
    // admit() answers every operating fault itself (a refusal); anything it throws is a bug and crashes the service.
    const admitted = batch.map((item) => admit(item.inbound, running, item.checks));
    let answers: Array<Outbound[] | undefined>;
    try {
      answers = running.commitBatch(admitted);
    } catch (error) {
      const fault = storageFault(error);
      if (fault === undefined) throw error;
      this.storageFailed(fault, batch.length);
      // Nothing of the batch was kept: each sender hears so, signed, and retries the same bytes later.
      const nowMs = this.options.clock.nowMs();
      batch.forEach((item, index) => item.resolve(running.processor.refuse(admitted[index]!.summary, fault, recipientsOf(admitted[index]!), nowMs, storageRetryAfterMs)));
      return;
    }
    this.storageWorks();
    const endedMs = performance.now();
    if (this.busySinceMs !== undefined) this.shedder.recordBusyBatch(batch.length, endedMs - this.busySinceMs);
    this.busySinceMs = this.queue.length > 0 ? endedMs : undefined;
    log.debug({ batchSize: batch.length, queued: this.queue.length }, "settlement batch committed");
    batch.forEach((item, index) => {
      const answer = answers[index];
      if (answer) item.resolve(answer);
    });
  }

  /** A bug: the batch's transaction rolled back; stop taking work and let the process die (see options.onCrash). */
  private crash(error: unknown, batchSize: number): void {
    this.accepting = false;
    this.crashed = true;
    for (const wake of this.idleWaiters.splice(0)) wake();
    log.fatal({ err: error, batchSize }, "settlement batch hit a bug; nothing of it was kept; the service stops");
    this.options.onCrash(error);
  }

  private storageFailed(fault: TapwireError, batchSize: number): void {
    if (this.storage.state === "ok") {
      this.storage = { state: "failing", sinceMs: this.options.clock.nowMs(), code: String(fault.context?.["sqliteCode"]), failedBatches: 1 };
      log.error({ code: fault.code, sqliteCode: fault.context?.["sqliteCode"], batchSize }, "ledger storage failing: requests are declined (LedgerStorage, retry later) until it recovers");
    } else {
      this.storage.failedBatches += 1;
    }
  }

  private storageWorks(): void {
    if (this.storage.state === "ok") return;
    log.warn({ failedBatches: this.storage.failedBatches, sinceMs: this.storage.sinceMs }, "ledger storage recovered");
    this.storage = { state: "ok" };
  }
}

function senderOf(inbound: Inbound): string {
  return `${inbound.kind}/${inbound.id}`;
}

/** Who hears a refusal of an admitted message: its sender (the wallet for a tag payment, as it is the one waiting). */
function recipientsOf(admission: Admission): Recipient[] {
  switch (admission.outcome) {
    case "refused":
      return admission.recipients;
    case "hub_request":
      return [{ kind: "hub", id: admission.hubId }];
    case "wallet_tag":
    case "wallet_request":
      return [{ kind: "wallet", id: admission.walletId }];
    case "agent_payment":
      return [{ kind: "agent", id: admission.agentId }];
  }
}
