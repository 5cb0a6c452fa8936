import type { Account, InvariantReport, Transfer, TransferInput } from "../ledger/ledger.ts";
import type { SeqWindow } from "../registry/seq-window.ts";
import type { StoredDecision } from "../settlement/decision-store.ts";

/**
 * What settlement workers keep and must share, behind one asynchronous interface with two engines: SQLite (the
 * embedded default, one process) and PostgreSQL (several workers, one database). In money-risk order: the
 * ledger, the idempotency records, each hub's anti-replay window, mandate budgets and consumed closed mandates.
 * Both engines enforce the same constraints in the database itself: unique idempotency keys and consumed
 * mandates, a budget or balance moved by a guarded single statement, books provable with checkInvariants.
 */
export interface DataStore {
  readonly engine: "sqlite" | "postgres";
  /**
   * Runs `work` in one transaction and commits once (group commit: a worker's whole batch is one call). When
   * another worker's transaction conflicts (deadlock, serialization, a key it inserted first) the work is
   * rolled back and run again, at most transactionAttemptsMax times, so `work` must only read and write `tx`.
   */
  transaction<T>(work: (tx: DataTx) => Promise<T>): Promise<T>;
  checkInvariants(): Promise<InvariantReport>;
  close(): Promise<void>;
}

export interface DataTx {
  /** Creates the account if missing; an existing one must hold the same currency (CurrencyMismatch). */
  ensureAccount(accountId: string, currency: string): Promise<Account>;
  findAccount(accountId: string): Promise<Account | undefined>;
  /** As Ledger.postLinked: 1..linkedTransfersMax legs all or none, each checked in order; refusals are typed. */
  postLinked(inputs: readonly TransferInput[]): Promise<Transfer[]>;
  /**
   * Takes a hub's anti-replay window for the rest of the transaction (another worker's transaction on the
   * same hub waits), so what it reads next (findDecision) already includes that worker's committed answer.
   */
  lockHubWindow(hubId: string): Promise<SeqWindow>;
  /** Accepts `seq` into the hub's window, or throws SeqReplayed / SeqBelowWindow and changes nothing. */
  acceptHubSeq(hubId: string, seq: number): Promise<void>;
  findDecision(key: string, requestId: string): Promise<StoredDecision | undefined>;
  /** Inserts the idempotency record; a second one under (key, requestId) is refused by the database's unique key. */
  saveDecision(decision: StoredDecision): Promise<void>;
  /** The budget test and the spend in one guarded statement: false, nothing changed, when it would go over. */
  spendBudget(mandateId: string, amountMinor: number): Promise<boolean>;
  /** Records a closed mandate's bytes as consumed: false, nothing changed, when they already were. */
  consumeClosedMandate(closedHash: Uint8Array, consumer: { agentId: string; requestId: string; mandateId: string }, nowMs: number): Promise<boolean>;
}

/** How often one transaction is tried when other workers' transactions keep conflicting with it. */
export const transactionAttemptsMax = 5;
