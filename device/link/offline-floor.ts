import type { OfflineLimits } from "../../protocol/contract.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";

export interface OfflineBacklog {
  count: number;
  totalMinor: number;
  oldestCapturedAtMs: number | undefined;
}

/**
 * Whether one more offline sale of `amountMinor` stays within the merchant's floor limits, given the captures
 * not yet settled by the service. Throws OfflineFloorExceeded naming the limit it would pass.
 */
export function checkOfflineFloor(limits: OfflineLimits, backlog: OfflineBacklog, amountMinor: number, nowMs: number): void {
  const exceeded = (limit: keyof OfflineLimits, detail: string) =>
    new TapwireError(`offline sale refused: ${detail}`, ErrorCode.OfflineFloorExceeded, { limit, value: limits[limit] });
  if (amountMinor > limits.saleMaxMinor) throw exceeded("saleMaxMinor", `amount ${amountMinor} above the offline sale limit ${limits.saleMaxMinor}`);
  if (backlog.count + 1 > limits.countMax) throw exceeded("countMax", `${backlog.count} offline sales already wait to be forwarded (max ${limits.countMax})`);
  if (backlog.totalMinor + amountMinor > limits.totalMaxMinor) {
    throw exceeded("totalMaxMinor", `offline total would reach ${backlog.totalMinor + amountMinor} (max ${limits.totalMaxMinor})`);
  }
  if (backlog.oldestCapturedAtMs !== undefined && nowMs - backlog.oldestCapturedAtMs > limits.ageMsMax) {
    throw exceeded("ageMsMax", `the oldest offline sale waits for ${nowMs - backlog.oldestCapturedAtMs} ms (max ${limits.ageMsMax})`);
  }
}
