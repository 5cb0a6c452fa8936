import { contract, type OfflineLimits } from "../../protocol/contract.ts";
import { isId } from "../../protocol/ids.ts";
import { amountMinorMax, isCurrency } from "../../protocol/money.ts";
import { assertNoProblems, rangeProblems, type Ranges } from "../../core/ranges.ts";

/** Store and forward for reader-mode sales while the link is down (see protocol/contract.ts OfflineLimits). */
export interface OfflineConfig {
  /** The merchant's currency: the only one sold offline (the limits are in its minor units). */
  currency: string;
  limits: OfflineLimits;
}

/** Who the hub is and how long each wait of the tap flow lasts. Durations are milliseconds. */
export interface TapConfig {
  hubId: string;
  merchantId: string;
  /** How long the hub waits for a phone or card (reader) or for a phone to read its tag (tag). */
  tapTimeoutMs: number;
  /**
   * How long the customer waits for the service's decision once the payment is under way; then the hub reverses.
   * Also how long it shows "reversing" before it says the sale is undone (the outbox goes on until it is).
   */
  decisionTimeoutMs: number;
  /** How long approved / declined / cancelled stays on the LEDs before the hub is idle again. */
  resultDisplayMs: number;
  /** Lifetime (`exp - iat`) of a payment request; at most the contract's requestLifetimeMsMax. */
  requestTtlMs: number;
  /** Lifetime of one reversal envelope; an envelope that expires unprocessed is replaced, so this bounds no retry. */
  reversalTtlMs: number;
  /** Offline sales: off when absent. */
  offline?: OfflineConfig | undefined;
}

export type TapTiming = Omit<TapConfig, "hubId" | "merchantId" | "offline">;

export const defaultTapTiming: TapTiming = {
  tapTimeoutMs: 30_000,
  decisionTimeoutMs: 15_000,
  resultDisplayMs: 3_000,
  requestTtlMs: 60_000,
  reversalTtlMs: contract.requestLifetimeMsMax,
};

export const tapTimingRanges: Required<Ranges<TapTiming>> = {
  tapTimeoutMs: [1_000, 600_000, "milliseconds"],
  decisionTimeoutMs: [1_000, 120_000, "milliseconds"],
  resultDisplayMs: [0, 60_000, "milliseconds"],
  requestTtlMs: [1_000, contract.requestLifetimeMsMax, "milliseconds"],
  reversalTtlMs: [10_000, contract.requestLifetimeMsMax, "milliseconds"],
};

const offlineRanges: Required<Ranges<OfflineLimits>> = {
  saleMaxMinor: [1, amountMinorMax, "minor units"],
  totalMaxMinor: [1, amountMinorMax, "minor units"],
  countMax: [1, contract.offlineCountMax, "sales"],
  ageMsMax: [60_000, contract.offlineAgeMsMax, "milliseconds"],
};

/**
 * Fails at start-up with every problem at once, each with its unit and range. The lifetimes are checked against
 * the contract the service also reads, so a hub whose requests the service would refuse does not start.
 */
export function validateTapConfig(config: TapConfig): TapConfig {
  const problems: string[] = [];
  if (!isId(config.hubId)) problems.push("hubId: must be 1-64 characters of A-Z a-z 0-9 . _ : -");
  if (!isId(config.merchantId)) problems.push("merchantId: must be 1-64 characters of A-Z a-z 0-9 . _ : -");
  problems.push(...rangeProblems(config, tapTimingRanges));
  if (config.requestTtlMs <= config.decisionTimeoutMs) problems.push("requestTtlMs: must be longer than decisionTimeoutMs");
  if (config.offline) problems.push(...offlineConfigProblems(config.offline));
  assertNoProblems(problems, "tap configuration");
  return config;
}

/** `offline.key: message` for each problem of an offline config (currency, limits against the contract). */
export function offlineConfigProblems(offline: OfflineConfig): string[] {
  const problems: string[] = [];
  if (!isCurrency(offline.currency)) problems.push(`offline.currency: unknown currency ${JSON.stringify(offline.currency)}`);
  problems.push(...rangeProblems(offline.limits, offlineRanges, "offline."));
  if (offline.limits.totalMaxMinor < offline.limits.saleMaxMinor) problems.push("offline.totalMaxMinor: must be at least saleMaxMinor");
  return problems;
}
