import { MandateStore } from "../agents/mandate-store.ts";
import type { Account, InvariantReport, Transfer, TransferInput } from "../ledger/ledger.ts";
import { SqliteLedger } from "../ledger/sqlite-ledger.ts";
import { Registry } from "../registry/registry.ts";
import type { SeqWindow } from "../registry/seq-window.ts";
import { DecisionStore, type StoredDecision } from "../settlement/decision-store.ts";
import type { Clock } from "../../core/sources.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { DataStore, DataTx } from "./data-store.ts";
import type { SqlDb } from "../../core/sql-db.ts";

/**
 * The embedded engine: the DataStore interface over the settlement database's own tables and stores (the same
 * ones the service writes in its batch transaction), so both engines are held to one test suite. A transaction
 * is BEGIN IMMEDIATE … COMMIT on the one connection; transactions queue behind each other, as SQLite has one
 * writer anyway. A hub's window needs the hub enrolled in this database's registry.
 */
export class SqliteDataStore implements DataStore, DataTx {
  readonly engine = "sqlite";
  private readonly ledger: SqliteLedger;
  private readonly registry: Registry;
  private readonly decisions: DecisionStore;
  private readonly mandates: MandateStore;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: SqlDb,
    clock: Clock,
  ) {
    this.ledger = new SqliteLedger(db, clock);
    this.registry = new Registry(db, this.ledger, clock);
    this.decisions = new DecisionStore(db);
    this.mandates = new MandateStore(db);
  }

  transaction<T>(work: (tx: DataTx) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const result = await work(this);
        this.db.exec("COMMIT");
        return result;
      } catch (error) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw error;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  checkInvariants(): Promise<InvariantReport> {
    return Promise.resolve(this.ledger.checkInvariants());
  }

  close(): Promise<void> {
    return this.queue.then(() => void this.db.close());
  }

  async ensureAccount(accountId: string, currency: string): Promise<Account> {
    return this.ledger.ensureAccount(accountId, currency);
  }

  async findAccount(accountId: string): Promise<Account | undefined> {
    return this.ledger.findAccount(accountId);
  }

  async postLinked(inputs: readonly TransferInput[]): Promise<Transfer[]> {
    return this.ledger.postLinked(inputs);
  }

  async lockHubWindow(hubId: string): Promise<SeqWindow> {
    const window = this.registry.hubSeqWindow(hubId);
    if (!window) throw new TapwireError(`no active hub ${hubId}`, ErrorCode.UnknownHub, { hubId });
    return window;
  }

  async acceptHubSeq(hubId: string, seq: number): Promise<void> {
    if (!this.registry.advanceHubSeq(hubId, seq)) throw this.registry.seqRefusal(hubId, seq);
  }

  async findDecision(key: string, requestId: string): Promise<StoredDecision | undefined> {
    return this.decisions.findDecision(key, requestId);
  }

  async saveDecision(decision: StoredDecision): Promise<void> {
    this.decisions.saveDecision(decision);
  }

  async spendBudget(mandateId: string, amountMinor: number): Promise<boolean> {
    return this.mandates.spend(mandateId, amountMinor);
  }

  async consumeClosedMandate(closedHash: Uint8Array, consumer: { agentId: string; requestId: string; mandateId: string }, nowMs: number): Promise<boolean> {
    if (this.mandates.isClosedConsumed(closedHash)) return false;
    this.mandates.consumeClosed(closedHash, consumer.agentId, consumer.requestId, consumer.mandateId, nowMs);
    return true;
  }
}
