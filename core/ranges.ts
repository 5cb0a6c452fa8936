import { z } from "zod";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";

/** Inclusive bounds of an integer option and the unit its message names ("milliseconds", "bytes"). */
export type Range = readonly [min: number, max: number, unit: string];

/** The range of each numeric option worth checking; keys left out are not checked. */
export type Ranges<T> = { readonly [K in keyof T]?: Range };

/** The zod schema of one ranged option: the one validation mechanism, with the unit in its message. */
export function rangeSchema([min, max, unit]: Range): z.ZodNumber {
  const message = `must be an integer between ${min} and ${max} ${unit}`;
  return z.number({ error: message }).int(message).min(min, message).max(max, message);
}

/**
 * One readable `key: must be an integer between MIN and MAX UNIT, got V` per value outside its range, so a
 * start-up failure lists every bad option at once. `prefix` names nested options ("timing.", "pn532.").
 */
export function rangeProblems<T extends object>(values: T, ranges: Ranges<T>, prefix = ""): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(ranges) as Array<keyof T & string>) {
    const range = ranges[key];
    if (range === undefined) continue;
    const value: unknown = values[key];
    const checked = rangeSchema(range).safeParse(value);
    if (!checked.success) problems.push(`${prefix}${key}: ${checked.error.issues[0]!.message}, got ${String(value)}`);
  }
  return problems;
}

/** Throws ConfigInvalid naming `what` and listing every problem (also in `context.details`), if there are any. */
export function assertNoProblems(problems: readonly string[], what: string): void {
  if (problems.length > 0) {
    throw new TapwireError(`invalid ${what}: ${problems.join("; ")}`, ErrorCode.ConfigInvalid, { details: [...problems] });
  }
}

/** Returns `values` if every ranged key is an integer inside its range, else throws ConfigInvalid (see rangeProblems). */
export function assertInRanges<T extends object>(values: T, ranges: Ranges<T>, what: string, prefix = ""): T {
  assertNoProblems(rangeProblems(values, ranges, prefix), what);
  return values;
}
