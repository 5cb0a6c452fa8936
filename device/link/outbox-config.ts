import type { Random } from "../../core/sources.ts";
import type { Ranges } from "../../core/ranges.ts";

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

/** 40 % of the wait: a fleet that lost the same broker at the same moment does not come back in step. */
const jitterShare = 0.4;

/**
 * How long before the next send of a request: attemptTimeoutMs doubling per attempt up to resendBackoffMaxMs (±20 %),
 * or, when the service asked for longer, its retry-after spread up to 40 % later (never earlier than it asked).
 */
export function resendDelayMs(config: ResendConfig, attempt: number, random: Random, retryAfterMs = 0): number {
  const backoffMs = Math.min(config.resendBackoffMaxMs, config.attemptTimeoutMs * 2 ** Math.min(Math.max(attempt - 1, 0), 20));
  const spread = random.bytes(1)[0]! / 255;
  if (retryAfterMs > backoffMs) return Math.round(retryAfterMs * (1 + jitterShare * spread));
  return Math.max(1, Math.round(backoffMs * (1 + jitterShare * (spread - 0.5))));
}
