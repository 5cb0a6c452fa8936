import { afterAll, describe, expect, it, vi } from "vitest";
import { explore } from "../../simulator/explore/explore.ts";

// Thousands of faults make thousands of expected warnings and errors (reader gone, clock wrong); a bug shows as a
// violation or a fatal machine crash, so only fatal lines are printed. Set before any module takes its logger
// (vi.hoisted runs first), and put back for the test files after this one.
const logLevel = vi.hoisted(() => {
  const before = process.env["TAPWIRE_LOG"];
  process.env["TAPWIRE_LOG"] ??= "fatal";
  return before;
});
afterAll(() => {
  if (logLevel === undefined) delete process.env["TAPWIRE_LOG"];
  else process.env["TAPWIRE_LOG"] = logLevel;
});

/**
 * The exploration CI runs: 1,000 seeds, each a world of 1-4 hubs with sales and faults, every money invariant
 * checked at the end of each. In four slices so a slow slice names itself; each takes 8-15 s on a 2-core VM.
 */
const slices = [
  [1, 250],
  [251, 500],
  [501, 750],
  [751, 1_000],
] as const;

describe("tapwire sim explore over 1,000 seeds", () => {
  for (const [from, to] of slices) {
    it(`seeds ${from}..${to}: every invariant holds`, async () => {
      const summary = await explore(from, to);
      expect(summary.failing.map((result) => ({ seed: result.seed, violations: result.violations }))).toEqual([]);
      expect(summary.seeds).toBe(to - from + 1);
    }, 120_000);
  }
});
