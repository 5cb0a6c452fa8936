import type { Random } from "../../protocol/sources.ts";
import type { Ranges } from "../../protocol/ranges.ts";

/** How the outbox resends; durations in milliseconds. */
export interface ResendConfig {
  /** How long one send waits for its decision before the same bytes go again (then doubling, with jitter). */
  attemptTimeoutMs: number;
  /** The longest wait between two sends of one request. */
  resendBackoffMaxMs: number;
  /** How often a payment held for a person or an operator is asked again, in case its final decision was missed. */
  heldResendMs: number;
}

export const defaultResendConfig: ResendConfig = { attemptTimeoutMs: 5_000, resendBackoffMaxMs: 60_000, heldResendMs: 30_000 };

export const resendConfigRanges: Required<Ranges<ResendConfig>> = {
  attemptTimeoutMs: [100, 120_000, "milliseconds"],
  resendBackoffMaxMs: [100, 3_600_000, "milliseconds"],
  heldResendMs: [1_000, 3_600_000, "milliseconds"],
};

export interface OutboxConfig extends ResendConfig {
  /** Lifetime of a reversal's envelope; an envelope that expires unprocessed is replaced by a new one. */
  reversalTtlMs: number;
  /** Lifetime of a status query's and an offline capture forward's envelope. */
  requestTtlMs: number;
}

/** ±20 %: a fleet that lost the same broker at the same moment does not come back in step. */
const jitterShare = 0.4;

/**
 * How long before the next send of a request: attemptTimeoutMs doubling per attempt up to resendBackoffMaxMs, or the
 * service's own retry-after when it asked for more, with jitter either way.
 */
export function resendDelayMs(config: ResendConfig, attempt: number, random: Random, retryAfterMs = 0): number {
  const backoffMs = Math.min(config.resendBackoffMaxMs, config.attemptTimeoutMs * 2 ** Math.min(Math.max(attempt - 1, 0), 20));
  const baseMs = Math.max(backoffMs, retryAfterMs);
  const jitter = (random.bytes(1)[0]! / 255 - 0.5) * jitterShare;
  // Never earlier than the service asked: the jitter only spreads the retries later.
  return Math.max(1, retryAfterMs, Math.round(baseMs * (1 + jitter)));
}
