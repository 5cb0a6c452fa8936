import { existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { assert } from "../../core/assert.ts";
import { StatementCache } from "../../core/statement-cache.ts";
import { encodeBody } from "../../protocol/cbor.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { Clock } from "../../core/sources.ts";
import {
  journalLimitsDefault,
  requestColumns,
  saleColumns,
  toRequest,
  toSale,
  type JournalLimits,
  type JournalRequest,
  type JournalSale,
  type NewSale,
  type RequestKind,
  type RequestRow,
  type SaleOutcome,
  type SaleRow,
  type SealedEnvelope,
  type StoredCapture,
} from "./journal-records.ts";
import { fileIdentity, migrate, storage, type FileIdentity } from "./journal-storage.ts";

export { journalLimitsDefault, requestKinds, saleOutcomes } from "./journal-records.ts";
export type {
  JournalLimits,
  JournalRequest,
  JournalSale,
  NewSale,
  RequestKind,
  RequestState,
  SaleOutcome,
  SealedEnvelope,
  StoredCapture,
} from "./journal-records.ts";

export interface HubJournalOptions {
  /** A file path, or ":memory:" (simulations and unit tests: nothing survives the process). */
  path: string;
  clock: Clock;
  limits?: Partial<JournalLimits>;
}

const settlingKinds = new Set<RequestKind>(["reversal", "status"]);

/** Rows pruned per call, so a prune never holds the disk for long. */
const pruneRowsMax = 500;

/**
 * The hub's durable memory of every sale and every signed request, written before the request's first byte leaves
 * (SQLite in WAL mode with synchronous=FULL: a commit is on disk when it returns; a torn last write is a WAL frame
 * whose checksum fails, which SQLite drops on open, so the journal reads as it was before that write). The hub's
 * `seq` counter lives here too and is taken in the same transaction as the request that uses it: one fsync per
 * sealed request. Every storage failure (disk full, read-only, vanished, corrupt) is JournalUnavailable, and the
 * sale that needed the write does not go ahead.
 *
 * Longer than the house's ~300 lines: every write of a sale's life is one transaction here, next to the others it
 * must agree with; the rows (journal-records.ts), the file (journal-storage.ts) and the schema live apart.
 */
export class HubJournal {
  private readonly limits: JournalLimits;
  private readonly statements: StatementCache;

  private constructor(
    private readonly db: Database.Database,
    private readonly clock: Clock,
    limits: Partial<JournalLimits> | undefined,
    private readonly file: FileIdentity | undefined,
  ) {
    this.limits = { ...journalLimitsDefault, ...limits };
    this.statements = new StatementCache(db);
    for (const [key, value] of Object.entries(this.limits)) {
      assert(Number.isSafeInteger(value) && value > 0, `journal limit ${key} must be a positive integer`);
    }
  }

  /** Opens (or creates) the journal file; ":memory:" for a simulation. */
  static open(options: HubJournalOptions): HubJournal {
    const inMemory = options.path === ":memory:";
    const db = storage("open the journal", () => {
      // better-sqlite3 says so with a TypeError, which would read as a bug rather than a storage fault.
      if (!inMemory && !existsSync(dirname(options.path))) {
        throw new TapwireError(`journal directory ${dirname(options.path)} does not exist`, ErrorCode.JournalUnavailable, { path: options.path });
      }
      const opened = new Database(options.path);
      opened.pragma("journal_mode = WAL");
      opened.pragma("synchronous = FULL");
      opened.pragma("foreign_keys = ON");
      migrate(opened);
      return opened;
    });
    const file = inMemory ? undefined : storage("open the journal", () => fileIdentity(options.path));
    return new HubJournal(db, options.clock, options.limits, file);
  }

  /** Closes the file; a hub using it must be stopped first. */
  close(): void {
    if (this.db.open) this.db.close();
  }

  get lastSeq(): number {
    return storage("read the seq counter", () => (this.statements.sql("SELECT value FROM meta WHERE key = 'seq_last'").get() as { value: number }).value);
  }

  /**
   * Takes the next seq, builds and signs the request with it (`build`), and journals it, in one transaction: the
   * request exists on disk, with its seq spent, before anyone can send it. `sale` opens the sale it starts.
   * `seq: false` is for tag offers, which carry no counter.
   */
  seal(
    input: {
      kind: RequestKind;
      saleId: string;
      requestId: string;
      sale?: NewSale;
      targetRequestId?: string;
      reason?: string;
      seq?: boolean;
      /** A request this one takes over from (a reversal supersedes its payment), in the same transaction. */
      supersedes?: string;
    },
    build: (seq: number) => SealedEnvelope,
  ): JournalRequest {
    return this.write("journal a request", () => {
      this.checkRoom(input.kind);
      if (input.supersedes !== undefined) this.markSuperseded(input.supersedes);
      if (input.sale) this.insertSale(input.sale, input.requestId);
      const seq = input.seq === false ? undefined : this.takeSeq();
      const sealed = build(seq ?? 0);
      this.statements
        .sql(
          `INSERT INTO requests (request_id, sale_id, kind, target_request_id, reason, seq, payload, iat_ms, exp_ms, state, bytes, created_at_ms, updated_at_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)`,
        )
        .run(input.requestId, input.saleId, input.kind, input.targetRequestId ?? null, input.reason ?? null, seq ?? null, sealed.payload,
          sealed.iatMs, sealed.expMs, sealed.payload.length, this.clock.nowMs(), this.clock.nowMs());
      return this.requireRequest(input.requestId);
    });
  }

  /** An offline sale: the sale and its capture, not yet signed for the service (forward() does that later). */
  storeCapture(sale: NewSale, requestId: string, capture: StoredCapture): JournalRequest {
    return this.write("journal an offline capture", () => {
      this.checkRoom("capture");
      this.insertSale(sale, requestId, "approved_offline");
      const bytes = encodeBody(capture);
      const nowMs = this.clock.nowMs();
      this.statements
        .sql(
          `INSERT INTO requests (request_id, sale_id, kind, capture, state, bytes, created_at_ms, updated_at_ms)
           VALUES (?, ?, 'capture', ?, 'open', ?, ?, ?)`,
        )
        .run(requestId, sale.saleId, bytes, bytes.length, nowMs, nowMs);
      return this.requireRequest(requestId);
    });
  }

  /**
   * Gives an open capture a (new) envelope under the same requestId: when it is first forwarded, and again when the
   * service said the previous envelope was never processed (expired, seq overtaken). Seq and signature in one
   * transaction, as seal() does.
   */
  reseal(requestId: string, build: (seq: number) => SealedEnvelope): JournalRequest {
    return this.write("journal a forward", () => {
      const request = this.requireRequest(requestId);
      assert(request.kind === "capture" && request.state === "open", `only an open capture is resealed, not ${request.kind} ${request.state}`);
      const seq = this.takeSeq();
      const sealed = build(seq);
      const captureBytes = request.capture ? encodeBody(request.capture).length : 0;
      this.statements
        .sql("UPDATE requests SET seq = ?, payload = ?, iat_ms = ?, exp_ms = ?, bytes = ?, updated_at_ms = ? WHERE request_id = ?")
        .run(seq, sealed.payload, sealed.iatMs, sealed.expMs, sealed.payload.length + captureBytes, this.clock.nowMs(), requestId);
      return this.requireRequest(requestId);
    });
  }

  /**
   * The service's answer that settles a request (its decision bytes kept for receipts and audits), and, in the
   * same transaction, the outcome of its sale when this answer decides it.
   */
  recordDecision(requestId: string, decision: { status: string; code: number; bytes: Buffer }, sale?: { outcome: SaleOutcome; code: number }): void {
    this.write("journal a decision", () => {
      const nowMs = this.clock.nowMs();
      this.statements
        .sql("UPDATE requests SET state = 'decided', status = ?, code = ?, decision = ?, updated_at_ms = ? WHERE request_id = ? AND state != 'decided'")
        .run(decision.status, decision.code, decision.bytes, nowMs, requestId);
      if (sale) this.updateSale(this.requireRequest(requestId).saleId, sale.outcome, sale.code);
    });
  }

  /** @internal */
  resolveSale(saleId: string, outcome: SaleOutcome, code: number): void {
    this.write("journal a sale's outcome", () => this.updateSale(saleId, outcome, code));
  }

  /** Requests still waiting for a decision, in the order they must go out (seq order; captures to forward last, oldest first). */
  openRequests(): JournalRequest[] {
    return storage("read open requests", () =>
      (this.statements.sql(`SELECT ${requestColumns} FROM requests WHERE state = 'open' ORDER BY seq IS NULL, seq, entry_id`).all() as RequestRow[]).map(toRequest),
    );
  }

  /** @internal */
  findRequest(requestId: string): JournalRequest | undefined {
    return storage("read a request", () => {
      const row = this.statements.sql(`SELECT ${requestColumns} FROM requests WHERE request_id = ?`).get(requestId) as RequestRow | undefined;
      return row ? toRequest(row) : undefined;
    });
  }

  /** @internal */
  requestsOf(saleId: string): JournalRequest[] {
    return storage("read a sale's requests", () =>
      (this.statements.sql(`SELECT ${requestColumns} FROM requests WHERE sale_id = ? ORDER BY entry_id`).all(saleId) as RequestRow[]).map(toRequest),
    );
  }

  /** @internal */
  sale(saleId: string): JournalSale | undefined {
    return storage("read a sale", () => {
      const row = this.statements.sql(`SELECT ${saleColumns} FROM sales WHERE sale_id = ?`).get(saleId) as SaleRow | undefined;
      return row ? toSale(row) : undefined;
    });
  }

  /** The most recent sale: what the panel shows after a reboot. */
  lastSale(): JournalSale | undefined {
    return storage("read the last sale", () => {
      // Insertion order, not the hub's clock: a clock stepped back must not make an older sale the latest.
      const row = this.statements.sql(`SELECT ${saleColumns} FROM sales ORDER BY rowid DESC LIMIT 1`).get() as SaleRow | undefined;
      return row ? toSale(row) : undefined;
    });
  }

  /** Sales whose outcome is still open (at most `limit`, oldest first). */
  pendingSales(limit = this.limits.openRequestsMax): JournalSale[] {
    return storage("read pending sales", () =>
      (this.statements.sql(`SELECT ${saleColumns} FROM sales WHERE outcome = 'pending' ORDER BY rowid LIMIT ?`).all(limit) as SaleRow[]).map(toSale),
    );
  }

  /** The offline captures the service has not settled yet: what the floor limits are measured against. */
  offlineBacklog(): { count: number; totalMinor: number; oldestCapturedAtMs: number | undefined } {
    return storage("read the offline backlog", () => {
      const row = this.statements
        .sql(
          `SELECT count(*) AS n, coalesce(sum(s.amount_minor), 0) AS total, min(s.created_at_ms) AS oldest
             FROM requests r JOIN sales s ON s.sale_id = r.sale_id WHERE r.kind = 'capture' AND r.state = 'open'`,
        )
        .get() as { n: number; total: number; oldest: number | null };
      return { count: row.n, totalMinor: row.total, oldestCapturedAtMs: row.oldest ?? undefined };
    });
  }

  /**
   * Forgets resolved sales older than the retention (and the oldest resolved ones beyond salesMax), with their
   * requests, at most pruneRowsMax sales per call. Unresolved sales and open requests are never pruned.
   */
  prune(): number {
    const cutoffMs = this.clock.nowMs() - this.limits.retentionMs;
    return this.write("prune the journal", () => {
      const total = (this.statements.sql("SELECT value FROM meta WHERE key = 'sales_total'").get() as { value: number }).value;
      const overflow = Math.max(0, total - this.limits.salesMax);
      // Each query walks the time index only as far as it needs: the expired ones, then the oldest beyond salesMax.
      const prunable = `SELECT sale_id FROM sales s WHERE outcome != 'pending'
             AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.sale_id = s.sale_id AND r.state = 'open')`;
      const expired = this.statements.sql(`${prunable} AND created_at_ms < ? ORDER BY created_at_ms, rowid LIMIT ?`).all(cutoffMs, pruneRowsMax) as Array<{ sale_id: string }>;
      const oldest =
        overflow > expired.length
          ? (this.statements.sql(`${prunable} ORDER BY created_at_ms, rowid LIMIT ?`).all(Math.min(overflow, pruneRowsMax)) as Array<{ sale_id: string }>)
          : [];
      const victims = [...new Set([...expired, ...oldest].map((row) => row.sale_id))].slice(0, pruneRowsMax).map((sale_id) => ({ sale_id }));
      const dropRequests = this.statements.sql("DELETE FROM requests WHERE sale_id = ?");
      const dropSale = this.statements.sql("DELETE FROM sales WHERE sale_id = ?");
      for (const { sale_id } of victims) {
        dropRequests.run(sale_id);
        dropSale.run(sale_id);
      }
      return victims.length;
    });
  }

  private updateSale(saleId: string, outcome: SaleOutcome, code: number): void {
    assert(outcome !== "pending", "a sale is resolved to an outcome, not to pending");
    this.statements.sql("UPDATE sales SET outcome = ?, code = ?, resolved_at_ms = ? WHERE sale_id = ?").run(outcome, code, this.clock.nowMs(), saleId);
  }

  private markSuperseded(requestId: string): void {
    this.statements.sql("UPDATE requests SET state = 'superseded', updated_at_ms = ? WHERE request_id = ? AND state = 'open'").run(this.clock.nowMs(), requestId);
  }

  private takeSeq(): number {
    const row = this.statements.sql("UPDATE meta SET value = value + 1 WHERE key = 'seq_last' RETURNING value").get() as { value: number };
    assert(Number.isSafeInteger(row.value), "seq exhausted");
    return row.value;
  }

  private insertSale(sale: NewSale, paymentRequestId: string, outcome: SaleOutcome = "pending"): void {
    this.statements
      .sql(`INSERT INTO sales (sale_id, mode, amount_minor, currency, payment_request_id, outcome, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`)
      .run(sale.saleId, sale.mode, sale.amountMinor, sale.currency, paymentRequestId, outcome, this.clock.nowMs());
  }

  /**
   * JournalFull when one more request would pass a bound; checked inside the writing transaction. Requests that
   * settle a sale already under way (its reversal, the status query after a restart) always find room: refusing
   * them would leave a customer charged with nothing on the hub, or a hub that cannot start.
   */
  private checkRoom(kind: RequestKind): void {
    if (settlingKinds.has(kind)) return;
    const { n, bytes } = this.statements
      .sql("SELECT (SELECT value FROM meta WHERE key = 'open_requests') AS n, (SELECT value FROM meta WHERE key = 'bytes_total') AS bytes")
      .get() as { n: number; bytes: number };
    if (kind !== "capture" && n >= this.limits.openRequestsMax) {
      throw new TapwireError(`${n} requests wait for a decision (max ${this.limits.openRequestsMax})`, ErrorCode.JournalFull, {
        openRequestsMax: this.limits.openRequestsMax,
      });
    }
    if (bytes >= this.limits.bytesMax) {
      throw new TapwireError(`journal holds ${bytes} bytes (max ${this.limits.bytesMax})`, ErrorCode.JournalFull, { bytesMax: this.limits.bytesMax });
    }
  }

  private requireRequest(requestId: string): JournalRequest {
    const row = this.statements.sql(`SELECT ${requestColumns} FROM requests WHERE request_id = ?`).get(requestId) as RequestRow | undefined;
    assert(row !== undefined, `journal has no request ${requestId}`);
    return toRequest(row);
  }

  private write<T>(what: string, work: () => T): T {
    return storage(what, () => {
      this.checkFile(what);
      return this.db.transaction(work).immediate();
    });
  }

  /**
   * In WAL mode SQLite goes on writing to a database file that was deleted or replaced under it, and every such
   * write is lost at the next start: a write is refused unless the path still names the file that was opened.
   */
  private checkFile(what: string): void {
    if (this.file === undefined) return;
    const current = statSync(this.file.path, { throwIfNoEntry: false });
    if (current?.dev === this.file.dev && current.ino === this.file.ino) return;
    throw new TapwireError(`cannot ${what}: journal file ${this.file.path} was deleted or replaced since it was opened`, ErrorCode.JournalUnavailable, {
      path: this.file.path,
    });
  }
}

/** Which file a journal opened, to notice it being deleted or replaced under the open connection. */
