import { assert } from "../../core/assert.ts";
import { logger } from "../../core/log.ts";
import type { Outbound } from "../decisions/verdicts.ts";
import { pushBatchMax, type ReviewStore } from "../review/review-store.ts";
import type { SqlDb } from "../../core/sql-db.ts";

const log = logger("tapwire:settlement");

/** Receives decisions made outside any request (an operator's answer, an expired case) for publishing. */
export type PushListener = (outbound: Outbound) => void;
export const pushListenersMax = 8;

/** Where queued pushes wait: the review store's outbox, in the settlement database. */
export interface PushOutbox {
  db: SqlDb;
  reviews: ReviewStore;
}

/**
 * Hands decisions nobody asked for right now (a review decided, a case expired) to whoever publishes them.
 * Listeners outlive a restart of the service; the outbox is the running service's database.
 */
export class PushDelivery {
  private readonly listeners = new Set<PushListener>();

  /** Returns the function that removes the listener. */
  onPush(listener: PushListener): () => void {
    assert(this.listeners.size < pushListenersMax, `more than ${pushListenersMax} push listeners`);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Hands queued pushes (also those another process queued, e.g. the review CLI) to the listeners, at most
   * pushBatchMax per call. With no listener they wait. Marked sent once handed over: a requester that missed
   * one retries its request and gets the final decision, which replaced the held one.
   */
  flush({ db, reviews }: PushOutbox, nowMs: number): number {
    if (this.listeners.size === 0) return 0;
    const pushes = reviews.unsentPushes(pushBatchMax);
    for (const push of pushes) {
      for (const listener of this.listeners) {
        try {
          listener({ kind: push.kind, id: push.id, payload: push.payload, expiresAtMs: push.expMs });
        } catch (error) {
          log.error({ err: error, pushId: push.pushId }, "push listener failed");
        }
      }
    }
    if (pushes.length > 0) db.transaction(() => pushes.forEach((push) => reviews.markSent(push.pushId, nowMs))).immediate();
    return pushes.length;
  }
}
