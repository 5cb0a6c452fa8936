import { afterAll, describe, expect, it, vi } from "vitest";
import { explore } from "../../simulator/explore/explore.ts";
import type { SeedResult } from "../../simulator/explore/run-scenario.ts";

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
 * KNOWN DEVICE BUG, reported and pinned by device-bugs.test.ts (which fails on purpose until device/ is fixed):
 * after a hub's clock is stepped back, a reboot shows an older sale's outcome. Seeds 146, 663 and 692 meet it. A
 * seed that breaks nothing else is counted apart here, so these slices keep guarding every other invariant. Drop
 * this once HubJournal.lastSale() is fixed.
 */
const onlyKnownDeviceBug = (result: SeedResult) => result.violations.every((violation) => violation.invariant === "shown-wrong-sale");

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
    it(`seeds ${from}..${to}: every invariant holds (but the known device bug)`, async () => {
      const summary = await explore(from, to);
      const unexpected = summary.failing.filter((result) => !onlyKnownDeviceBug(result));
      expect(unexpected.map((result) => ({ seed: result.seed, violations: result.violations }))).toEqual([]);
      expect(summary.seeds).toBe(to - from + 1);
    }, 120_000);
  }
});
