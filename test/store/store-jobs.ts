import { MandateStore } from "../../broker/agents/mandate-store.ts";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import { SqliteLedger } from "../../broker/ledger/sqlite-ledger.ts";
import { Registry } from "../../broker/registry/registry.ts";
import { DecisionStore } from "../../broker/settlement/decision-store.ts";
import { glassesSchema } from "../../broker/settlement/glasses-payer-verifier.ts";
import { serviceSchema } from "../../broker/settlement/service-schema.ts";
import type { SchemaComponent } from "../../broker/ledger/sqlite-db.ts";
import type { SqlDb } from "../../core/sql-db.ts";
import { ManualClock, type Clock } from "../../core/sources.ts";
import { isTapwireError } from "../../protocol/errors.ts";

/**
 * The settlement stores the service writes (the ledger, the registry's hub windows, the idempotency records,
 * the mandates) over one connection, and the shares of work a test hands to each settlement worker: run on the
 * test's own thread for the first worker and in a worker thread (store-worker.ts) for each other one, each
 * with its own connection, so the engines really see several writers at once.
 */
export interface SettlementStores {
  db: SqlDb;
  ledger: SqliteLedger;
  registry: Registry;
  decisions: DecisionStore;
  mandates: MandateStore;
}

/** Every thread of a test starts its clock here, so their rows agree. */
export const testClockStartMs = 1_700_000_000_000;

export function testClock(): ManualClock {
  return new ManualClock(testClockStartMs);
}

/** What the migration test opens at once from several workers: every component, a plugged-in one included. */
export function migratedSchema(): SchemaComponent[] {
  return serviceSchema([glassesSchema]);
}

export function storesOver(db: SqlDb, clock: Clock): SettlementStores {
  const ledger = new SqliteLedger(db, clock);
  return { db, ledger, registry: new Registry(db, ledger, clock), decisions: new DecisionStore(db), mandates: new MandateStore(db) };
}

/** How a transaction ended: committed, committed having changed nothing (a guard said no), or a typed refusal. */
export type Outcome = "committed" | "unchanged" | number;

/** `work` in one IMMEDIATE transaction, as the service commits a batch; a TapwireError rolls it back and is its code. */
export function outcome(db: SqlDb, work: () => boolean | void): Outcome {
  try {
    return db.transaction(work).immediate() === false ? "unchanged" : "committed";
  } catch (error) {
    if (isTapwireError(error)) return error.code;
    throw error;
  }
}

/** A hub request's seq through the registry's window, as the gates take it: accepted, or its typed refusal. */
export function acceptSeq({ registry }: SettlementStores, hubId: string, seq: number): void {
  if (!registry.advanceHubSeq(hubId, seq)) throw registry.seqRefusal(hubId, seq);
}

/** One worker's share: each entry is one transaction of its own. */
export type Job =
  | { kind: "charge"; walletId: string; merchantId: string; amountMinor: number; references: string[] }
  | { kind: "accept-seqs"; hubId: string; seqs: number[] }
  | { kind: "spend"; mandateId: string; amountMinor: number; times: number }
  | { kind: "consume-closed"; closedHash: Uint8Array; agentId: string; requestId: string; mandateId: string; times: number };

export function runJob(stores: SettlementStores, job: Job, nowMs: number): Outcome[] {
  const { db, ledger, mandates } = stores;
  switch (job.kind) {
    case "charge":
      return job.references.map((reference) =>
        outcome(db, () => {
          const payment = { amountMinor: job.amountMinor, currency: "EUR", kind: "payment", reference };
          ledger.postLinked([{ debitAccountId: walletAccountId(job.walletId), creditAccountId: merchantAccountId(job.merchantId), ...payment }]);
        }),
      );
    case "accept-seqs":
      return job.seqs.map((seq) => outcome(db, () => acceptSeq(stores, job.hubId, seq)));
    case "spend":
      return Array.from({ length: job.times }, () => outcome(db, () => mandates.spend(job.mandateId, job.amountMinor)));
    case "consume-closed":
      // As the gates do: a closed mandate seen before is refused, else consumed in the same transaction.
      return Array.from({ length: job.times }, () =>
        outcome(db, () => {
          if (mandates.isClosedConsumed(job.closedHash)) return false;
          mandates.consumeClosed(job.closedHash, job.agentId, job.requestId, job.mandateId, nowMs);
          return true;
        }),
      );
  }
}
