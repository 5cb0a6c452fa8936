import { isId } from "../../protocol/ids.ts";
import { assertNoProblems, rangeProblems, type Ranges } from "../../protocol/ranges.ts";

/** Who the hub is and how long each wait of the tap flow lasts. Durations are milliseconds. */
export interface TapConfig {
  hubId: string;
  merchantId: string;
  /** How long the hub waits for a phone or card (reader) or for a phone to read its tag (tag). */
  tapTimeoutMs: number;
  /** How long the hub waits for the service's decision once the payment is under way. */
  decisionTimeoutMs: number;
  /** How long approved / declined / cancelled stays on the LEDs before the hub is idle again. */
  resultDisplayMs: number;
  /** Lifetime (`exp - iat`) of a payment request; the service refuses it afterwards. */
  requestTtlMs: number;
  /** Lifetime of a reversal: how long the outbox may keep resending it after the link comes back. */
  reversalTtlMs: number;
  reversalAttemptsMax: number;
  reversalBackoffBaseMs: number;
  reversalBackoffMaxMs: number;
}

export type TapTiming = Omit<TapConfig, "hubId" | "merchantId">;

export const defaultTapTiming: TapTiming = {
  tapTimeoutMs: 30_000,
  decisionTimeoutMs: 15_000,
  resultDisplayMs: 3_000,
  requestTtlMs: 60_000,
  reversalTtlMs: 15 * 60_000,
  reversalAttemptsMax: 8,
  reversalBackoffBaseMs: 1_000,
  reversalBackoffMaxMs: 30_000,
};

const ranges: Required<Ranges<TapTiming>> = {
  tapTimeoutMs: [1_000, 600_000, "milliseconds"],
  decisionTimeoutMs: [1_000, 120_000, "milliseconds"],
  resultDisplayMs: [0, 60_000, "milliseconds"],
  requestTtlMs: [1_000, 3_600_000, "milliseconds"],
  reversalTtlMs: [60_000, 86_400_000, "milliseconds"],
  reversalAttemptsMax: [1, 100, "attempts"],
  reversalBackoffBaseMs: [10, 60_000, "milliseconds"],
  reversalBackoffMaxMs: [10, 600_000, "milliseconds"],
};

/** Fails at start-up with every problem at once, each with its unit and range. */
export function validateTapConfig(config: TapConfig): TapConfig {
  const problems: string[] = [];
  if (!isId(config.hubId)) problems.push("hubId: must be 1-64 characters of A-Z a-z 0-9 . _ : -");
  if (!isId(config.merchantId)) problems.push("merchantId: must be 1-64 characters of A-Z a-z 0-9 . _ : -");
  problems.push(...rangeProblems(config, ranges));
  if (config.requestTtlMs < config.decisionTimeoutMs) problems.push("requestTtlMs: must be at least decisionTimeoutMs");
  if (config.reversalBackoffMaxMs < config.reversalBackoffBaseMs) {
    problems.push("reversalBackoffMaxMs: must be at least reversalBackoffBaseMs");
  }
  assertNoProblems(problems, "tap configuration");
  return config;
}

/** Exponential backoff, capped: base, 2·base, 4·base … max. `attempt` counts from 1. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(baseMs * 2 ** exponent, maxMs);
}
