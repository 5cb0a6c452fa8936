import { createPublicKey, type KeyObject } from "node:crypto";
import { assert } from "../../protocol/assert.ts";
import { readEnvelope } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError, asTapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { logger } from "../../protocol/log.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { openSqliteDb, type SqliteDb } from "../ledger/sqlite-db.ts";
import { SqliteLedger, ledgerSchema } from "../ledger/sqlite-ledger.ts";
import { Registry } from "../registry/registry.ts";
import { registrySchema } from "../registry/registry-schema.ts";
import { admit, type Admission, type Inbound } from "./admission.ts";
import { DecisionSigner, describeUnverified } from "./decisions.ts";
import { resolveSettlementOptions, type ResolvedSettlementOptions, type SettlementOptions } from "./options.ts";
import { hceVerifier, type PayerVerifier } from "./payer-verifier.ts";
import { RequestProcessor, type Outbound } from "./request-processor.ts";
import { settlementSchema } from "./settlement-schema.ts";
import { SettlementStore, settlementListMax, type BatchRecord, type PaymentRecord } from "./settlement-store.ts";

export type { Inbound } from "./admission.ts";
export type { Outbound } from "./request-processor.ts";

const log = logger("tapwire:settlement");

interface Pending {
  inbound: Inbound;
  resolve: (outbound: Outbound[]) => void;
  reject: (error: TapwireError) => void;
}

interface Running {
  db: SqliteDb;
  ledger: SqliteLedger;
  registry: Registry;
  store: SettlementStore;
  processor: RequestProcessor;
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
 */
export class SettlementService {
  private readonly options: ResolvedSettlementOptions;
  private readonly signer: DecisionSigner;
  private readonly queue: Pending[] = [];
  private running: Running | undefined;
  private accepting = false;
  private drainScheduled = false;
  private idleWaiters: Array<() => void> = [];
  private stopping: Promise<void> | undefined;

  constructor(options: SettlementOptions) {
    this.options = resolveSettlementOptions(options);
    this.signer = new DecisionSigner(this.options.serviceKey, this.options.decisionTtlMs);
  }

  /** Opens (and migrates) the database; after this `handle`, `ledger` and `registry` work. */
  async start(): Promise<void> {
    assert(!this.running && !this.stopping, "SettlementService started twice or while stopping");
    const { databasePath, clock, payerVerifiers, schemaComponents } = this.options;
    const components = [ledgerSchema, registrySchema, settlementSchema, ...schemaComponents];
    const db = openSqliteDb({ path: databasePath, components, clock });
    const ledger = new SqliteLedger(db, clock);
    const registry = new Registry(db, ledger, clock);
    const store = new SettlementStore(db);
    const verifiers = new Map<string, PayerVerifier>([hceVerifier, ...payerVerifiers].map((v) => [v.kind, v]));
    const processor = new RequestProcessor({
      db,
      registry,
      ledger,
      store,
      signer: this.signer,
      verifiers,
      clockSkewMs: this.options.clockSkewMs,
      requestLifetimeMsMax: this.options.requestLifetimeMsMax,
    });
    const batchTransaction = db.transaction((admitted: ReadonlyArray<Admission | undefined>) => {
      const nowMs = clock.nowMs();
      return admitted.map((admission) => (admission ? processor.process(admission, nowMs) : undefined));
    });
    this.running = { db, ledger, registry, store, processor, commitBatch: (admitted) => batchTransaction.immediate(admitted) };
    this.accepting = true;
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
    await new Promise<void>((resolve) => {
      if (this.queue.length === 0 && !this.drainScheduled) resolve();
      else this.idleWaiters.push(resolve);
    });
    running.db.close();
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
    if (this.queue.length >= this.options.queueMax) return Promise.resolve(this.overloaded(inbound));
    return new Promise<Outbound[]>((resolve, reject) => {
      this.queue.push({ inbound, resolve, reject });
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

  /** Messages waiting for the drain loop. */
  get queueLength(): number {
    return this.queue.length;
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

  /** Operators run this now and then: drops idempotency records and nonces older than idempotencyRetentionMs. */
  pruneIdempotency(): { decisions: number; nonces: number } {
    const running = this.started();
    const cutoffMs = this.options.clock.nowMs() - this.options.idempotencyRetentionMs;
    return running.db.transaction(() => running.store.pruneBefore(cutoffMs)).immediate();
  }

  private started(): Running {
    if (!this.running) throw new TapwireError("settlement service is not started", ErrorCode.ServiceUnavailable);
    return this.running;
  }

  private overloaded(inbound: Inbound): Outbound[] {
    const running = this.started();
    let payload: Uint8Array | undefined;
    try {
      payload = readEnvelope(inbound.payload).payload;
    } catch {
      // Under overload an unreadable message gets the bare decline; there is no time to say more.
    }
    const error = new TapwireError(`more than ${this.options.queueMax} messages queued`, ErrorCode.Overloaded);
    const summary = describeUnverified(payload, inbound.id);
    return running.processor.refuse(summary, error, [{ kind: inbound.kind, id: inbound.id }], this.options.clock.nowMs());
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    // setImmediate, not a microtask: lets I/O callbacks enqueue more work first, which is what fills a batch.
    setImmediate(() => this.drainOnce());
  }

  private drainOnce(): void {
    this.drainScheduled = false;
    const batch = this.queue.splice(0, this.options.batchMax);
    if (batch.length > 0) this.processBatch(batch);
    if (this.queue.length > 0) {
      this.scheduleDrain();
      return;
    }
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private processBatch(batch: Pending[]): void {
    const running = this.started();
    const admitted: Array<Admission | undefined> = batch.map((item) => {
      try {
        return admit(item.inbound, running.registry);
      } catch (error) {
        log.error({ err: error, kind: item.inbound.kind, id: item.inbound.id }, "admission failed unexpectedly");
        item.reject(asTapwireError(error, ErrorCode.ServiceUnavailable));
        return undefined;
      }
    });
    let answers: Array<Outbound[] | undefined>;
    try {
      answers = running.commitBatch(admitted);
    } catch (error) {
      const failure = asTapwireError(error, ErrorCode.LedgerStorage);
      log.error({ err: error, batchSize: batch.length }, "settlement batch rolled back");
      batch.forEach((item, index) => {
        if (admitted[index]) item.reject(failure);
      });
      return;
    }
    log.debug({ batchSize: batch.length, queued: this.queue.length }, "settlement batch committed");
    batch.forEach((item, index) => {
      const answer = answers[index];
      if (answer) item.resolve(answer);
    });
  }
}
