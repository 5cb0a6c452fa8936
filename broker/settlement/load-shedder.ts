import { assert } from "../../core/assert.ts";

export interface LoadShedderOptions {
  /** Signed Overloaded answers per second at most; past it a shed request gets no answer (its hub times out). */
  shedAnswersPerSecondMax: number;
  /** Bounds of the retry-after a shed request is told. */
  retryAfterMsMin: number;
  retryAfterMsMax: number;
}

export const loadShedderDefaults: LoadShedderOptions = { shedAnswersPerSecondMax: 2_000, retryAfterMsMin: 250, retryAfterMsMax: 10_000 };

/** How fast the service commits, smoothed over recent batches (requests per second). */
const rateSmoothing = 0.2;
/** Until the service has been measured busy: the retry-after it tells (the wait bound does not apply before). */
const rateGuessPerSecond = 500;

/**
 * Admission's arithmetic: how long a shed request should wait before its retry (the queue ahead of it at the rate
 * the service has been committing, bounded), and a token bucket so that answering Overloaded never costs more than
 * a fixed share of the thread (each answer is a signature). Pure state: time is passed in.
 */
export class LoadShedder {
  private ratePerSecond = rateGuessPerSecond;
  private measured = false;
  private tokens: number;
  private refilledAtMs: number | undefined;

  constructor(private readonly options: LoadShedderOptions = loadShedderDefaults) {
    assert(options.shedAnswersPerSecondMax > 0 && options.retryAfterMsMin > 0, "shedder limits must be positive");
    assert(options.retryAfterMsMax >= options.retryAfterMsMin, "retryAfterMsMax must be at least retryAfterMsMin");
    this.tokens = options.shedAnswersPerSecondMax;
  }

  /**
   * `count` requests committed `elapsedMs` after the previous batch, while requests were waiting all along: the rate
   * the whole node manages when busy (network, checks and ledger together), not just the transaction's.
   */
  recordBusyBatch(count: number, elapsedMs: number): void {
    if (count === 0) return;
    const rate = (count * 1_000) / Math.max(elapsedMs, 1);
    this.ratePerSecond = this.measured ? this.ratePerSecond * (1 - rateSmoothing) + rate * rateSmoothing : rate;
    this.measured = true;
  }

  /** How long `queued` requests take to settle at the rate the node has been committing; 0 until it was measured busy. */
  drainMs(queued: number): number {
    return this.measured ? (queued * 1_000) / Math.max(this.ratePerSecond, 1) : 0;
  }

  /** How long the queue ahead (`queued` requests) takes to drain, bounded: what a shed request is told to wait. */
  retryAfterMs(queued: number): number {
    const drainMs = (queued * 1_000) / Math.max(this.ratePerSecond, 1);
    return Math.round(Math.min(this.options.retryAfterMsMax, Math.max(this.options.retryAfterMsMin, drainMs)));
  }

  /** Whether one more Overloaded answer may be signed now (else the request is dropped unanswered). */
  takeAnswer(nowMs: number): boolean {
    const max = this.options.shedAnswersPerSecondMax;
    if (this.refilledAtMs !== undefined) this.tokens = Math.min(max, this.tokens + ((nowMs - this.refilledAtMs) * max) / 1_000);
    this.refilledAtMs = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
