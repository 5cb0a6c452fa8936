import { contract, type OfflineLimits } from "../../protocol/contract.ts";
import { amountMinorMax } from "../../protocol/money.ts";
import { assertNoProblems, rangeProblems, type Ranges } from "../../core/ranges.ts";

/** What a merchant's floor limits may be: the contract's ceilings, and the amounts a message can carry. */
export const offlineLimitRanges: Ranges<OfflineLimits> = {
  saleMaxMinor: [1, amountMinorMax, "minor units"],
  totalMaxMinor: [1, amountMinorMax, "minor units"],
  countMax: [1, contract.offlineCountMax, "captures (protocol contract.offlineCountMax)"],
  ageMsMax: [1, contract.offlineAgeMsMax, "milliseconds (protocol contract.offlineAgeMsMax)"],
};

/**
 * Returns exactly the four limits when each is within its range and a single sale fits in the total, else
 * throws ConfigInvalid listing every problem: limits are set by an operator, at the CLI or on enrolment.
 */
export function checkedOfflineLimits(limits: OfflineLimits): OfflineLimits {
  const { saleMaxMinor, totalMaxMinor, countMax, ageMsMax } = limits;
  const checked = { saleMaxMinor, totalMaxMinor, countMax, ageMsMax };
  const problems = rangeProblems(checked, offlineLimitRanges, "offlineLimits.");
  if (problems.length === 0 && saleMaxMinor > totalMaxMinor) {
    problems.push(`offlineLimits.saleMaxMinor: must not be above totalMaxMinor ${totalMaxMinor}, got ${saleMaxMinor}`);
  }
  assertNoProblems(problems, "offline limits");
  return checked;
}
