import type { Clock, Timers } from "../../core/sources.ts";
import type { RetentionReport } from "../privacy/personal-data.ts";
import { retentionEveryMs } from "../privacy/retention.ts";
import type { ReviewDesk } from "../review/review-desk.ts";
import type { DecisionStore } from "./decision-store.ts";
import { storageFault, type StorageWatch } from "./storage-faults.ts";
import type { SqlDb } from "../../core/sql-db.ts";

/** Rows of each kind one sweep may prune: well above the rate records are written at the bench's ~3k payments/s. */
export const pruneRowsPerSweepMax = 10_000;

export interface SweepDeps {
  db: SqlDb;
  desk: ReviewDesk;
  decisions: DecisionStore;
  clock: Clock;
  timers: Timers;
  sweepIntervalMs: number;
  idempotencyRetentionMs: number;
  storage: StorageWatch;
  /** Hands queued pushes to the listeners (push-delivery.ts). */
  flushPushes: () => number;
  /** Whether the service still takes work: a stopping or crashed one sweeps no more. */
  accepting: () => boolean;
  /** Shreds and removes personal data past its retention (broker/privacy/retention.ts), at most rowsMax of each kind. */
  applyRetention: (nowMs: number, rowsMax: number) => RetentionReport;
  /** A bug met while sweeping: the service stops, as for a batch. */
  crash: (error: unknown) => void;
}

/**
 * The housekeeping one running service does every sweepIntervalMs: expires held cases, publishes pushes, prunes
 * idempotency records, applies the retention of personal data. Each sweep arms the one after it (a one-shot on
 * injected timers, not an interval).
 */
export class Sweep {
  private timer: unknown;
  private stopped = false;
  /** When a sweep last applied retention (the first sweep does). */
  private retentionAppliedAtMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: SweepDeps) {}

  start(): void {
    const timer = this.deps.timers.setTimeout(() => {
      if (this.stopped || !this.deps.accepting()) return;
      this.sweep();
      this.start();
    }, this.deps.sweepIntervalMs);
    // A real timer must not keep the process alive on its own (as the interval it replaces did not).
    (timer as { unref?: () => void } | undefined)?.unref?.();
    this.timer = timer;
  }

  stop(): void {
    this.stopped = true;
    this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Declines expired cases and publishes queued pushes. */
  expireCases(): number {
    const { db, desk, clock } = this.deps;
    const expired = db.transaction(() => desk.expire(clock.nowMs())).immediate();
    this.deps.flushPushes();
    return expired;
  }

  /**
   * Drops idempotency records and nonces older than idempotencyRetentionMs, at most rowsMax of each per call;
   * every sweep runs it, which keeps up with pruneRowsPerSweepMax per sweep interval. A request that old is
   * refused by its own exp long before, so no retry can slip through once its record is gone.
   */
  pruneIdempotency(rowsMax = pruneRowsPerSweepMax): { decisions: number; nonces: number } {
    const { db, decisions, clock } = this.deps;
    const cutoffMs = clock.nowMs() - this.deps.idempotencyRetentionMs;
    return db.transaction(() => decisions.pruneBefore(cutoffMs, rowsMax)).immediate();
  }

  /** Applies the retention table at the clock's now, bounded like pruning; sweeps run it every retentionEveryMs. */
  applyRetention(rowsMax = pruneRowsPerSweepMax): RetentionReport {
    const { db, clock } = this.deps;
    return db.transaction(() => this.deps.applyRetention(clock.nowMs(), rowsMax)).immediate();
  }

  private applyRetentionWhenDue(): void {
    const nowMs = this.deps.clock.nowMs();
    if (nowMs - this.retentionAppliedAtMs < retentionEveryMs) return;
    this.applyRetention();
    this.retentionAppliedAtMs = nowMs;
  }

  /**
   * A storage fault is counted and logged at error (the next sweep tries again, and storageHealth says so);
   * anything else is a bug and crashes the service.
   */
  private sweep(): void {
    if (!this.deps.accepting()) return;
    try {
      this.expireCases();
      this.pruneIdempotency();
      this.applyRetentionWhenDue();
      this.deps.storage.works();
    } catch (error) {
      const fault = storageFault(error);
      if (fault === undefined) {
        this.deps.crash(error);
        return;
      }
      this.deps.storage.failed(fault, 0);
    }
  }
}
