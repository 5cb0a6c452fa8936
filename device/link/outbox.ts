import { assert } from "../../protocol/assert.ts";
import { ErrorCode, isTapwireError, TapwireError } from "../../protocol/errors.ts";
import { logger } from "../../protocol/log.ts";
import type { Decision } from "../../protocol/messages.ts";
import type { Clock } from "../../protocol/sources.ts";
import type { SettlementPort } from "../ports.ts";

const log = logger("tapwire:outbox");

/** A signed request awaiting its decision. `expMs` is the `exp` inside the signed body. */
export interface OutboxEntry {
  requestId: string;
  payload: Buffer;
  expMs: number;
}

export interface OutboxOptions {
  settlement: SettlementPort;
  clock: Clock;
  /** Requests held at once; one more is refused with OutboxFull rather than growing without bound. */
  outboxMax: number;
  /** How long one attempt waits for the decision before it counts as lost (DecisionTimeout). */
  attemptTimeoutMs: number;
}

interface Slot {
  entry: OutboxEntry;
  inFlight: Promise<Decision> | undefined;
}

export type DecisionListener = (requestId: string, decision: Decision) => void;

/**
 * Signed requests that have been handed to the link and have no decision yet. A request stays until its
 * decision arrives or its `exp` passes; whenever the link comes back, every request is sent again with the
 * SAME bytes (re-signing would change the body hash the service keys idempotency on). The reversal retry in
 * the tap machine goes through here too, so a retried reversal is byte-identical to the first.
 */
export class Outbox {
  /** Insertion order is resend order. */
  private readonly slots = new Map<string, Slot>();
  private readonly listeners = new Set<DecisionListener>();
  private unsubscribeStatus: (() => void) | undefined;

  constructor(private readonly options: OutboxOptions) {
    assert(Number.isSafeInteger(options.outboxMax) && options.outboxMax > 0, "outboxMax must be a positive integer");
    assert(options.attemptTimeoutMs > 0, "attemptTimeoutMs must be positive");
  }

  start(): void {
    assert(this.unsubscribeStatus === undefined, "Outbox started twice");
    this.unsubscribeStatus = this.options.settlement.onStatus((online) => {
      if (online) this.resendAll();
    });
  }

  stop(): void {
    this.unsubscribeStatus?.();
    this.unsubscribeStatus = undefined;
  }

  get size(): number {
    return this.slots.size;
  }

  has(requestId: string): boolean {
    return this.slots.has(requestId);
  }

  /**
   * Holds the request and makes one attempt (or joins the attempt already under way). Resolves with the
   * decision; rejects Offline / DecisionTimeout with the request still held for the next reconnect, OutboxFull
   * when `outboxMax` requests are already held, MessageExpired when `expMs` has passed.
   */
  send(entry: OutboxEntry): Promise<Decision> {
    this.dropExpired();
    const existing = this.slots.get(entry.requestId);
    if (existing) {
      assert(existing.entry.payload.equals(entry.payload), `requestId ${entry.requestId} resent with different bytes`);
      return this.attempt(existing);
    }
    if (entry.expMs <= this.options.clock.nowMs()) {
      throw new TapwireError(`request ${entry.requestId} expired before sending`, ErrorCode.MessageExpired, { requestId: entry.requestId });
    }
    if (this.slots.size >= this.options.outboxMax) {
      throw new TapwireError(`outbox holds ${this.slots.size} requests (max ${this.options.outboxMax})`, ErrorCode.OutboxFull, {
        outboxMax: this.options.outboxMax,
      });
    }
    const slot: Slot = { entry, inFlight: undefined };
    this.slots.set(entry.requestId, slot);
    return this.attempt(slot);
  }

  /** Forgets a request (a reversal supersedes the payment it undoes); true if it was held. */
  drop(requestId: string): boolean {
    return this.slots.delete(requestId);
  }

  /** Every decision that settles a held request, including ones won by a resend nobody is awaiting. */
  onDecision(listener: DecisionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private attempt(slot: Slot): Promise<Decision> {
    if (slot.inFlight) return slot.inFlight;
    const { requestId, payload } = slot.entry;
    const inFlight = (async () => this.options.settlement.send(payload, requestId, this.options.attemptTimeoutMs))().then(
      (decision) => {
        slot.inFlight = undefined;
        this.settle(slot, decision);
        return decision;
      },
      (error: unknown) => {
        slot.inFlight = undefined;
        if (!isRetryable(error) && this.slots.get(requestId) === slot) this.slots.delete(requestId);
        throw error;
      },
    );
    slot.inFlight = inFlight;
    return inFlight;
  }

  private settle(slot: Slot, decision: Decision): void {
    const { requestId } = slot.entry;
    // The link matches decisions to requests; one for another request settles nothing and the request stays.
    if (decision.requestId !== requestId) {
      log.warn({ requestId, decisionRequestId: decision.requestId }, "decision for another request ignored");
      return;
    }
    if (this.slots.get(requestId) === slot) this.slots.delete(requestId);
    for (const listener of this.listeners) listener(requestId, decision);
  }

  private resendAll(): void {
    this.dropExpired();
    for (const slot of this.slots.values()) {
      if (slot.inFlight) continue;
      this.attempt(slot).catch((error: unknown) => {
        log.debug({ requestId: slot.entry.requestId, err: error }, "resend failed; kept for the next reconnect");
      });
    }
  }

  private dropExpired(): void {
    const nowMs = this.options.clock.nowMs();
    for (const [requestId, slot] of this.slots) {
      if (slot.entry.expMs > nowMs) continue;
      this.slots.delete(requestId);
      log.warn({ requestId, expMs: slot.entry.expMs }, "request expired without a decision; dropped");
    }
  }
}

function isRetryable(error: unknown): boolean {
  return isTapwireError(error, ErrorCode.Offline) || isTapwireError(error, ErrorCode.DecisionTimeout);
}
