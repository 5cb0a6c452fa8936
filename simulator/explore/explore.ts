import { performance } from "node:perf_hooks";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { violation } from "./invariants.ts";
import { runSeed, type RunOptions, type SeedResult } from "./run-scenario.ts";

/** Seeds one exploration may cover. */
export const seedsMax = 1_000_000;

export interface ExploreOptions extends RunOptions {
  /** Called after every seed, in seed order. */
  onSeed?: (result: SeedResult) => void;
}

export interface ExploreSummary {
  seedFrom: number;
  seedTo: number;
  seeds: number;
  failing: SeedResult[];
  elapsedMs: number;
  seedsPerSecond: number;
}

/**
 * TigerBeetle's VOPR idea for the whole stack: for each seed, a world drawn from it is played on the virtual clock
 * and its money invariants checked. A seed whose world throws is a failing seed too (the exception is its finding).
 */
export async function explore(seedFrom: number, seedTo: number, options: ExploreOptions = {}): Promise<ExploreSummary> {
  if (!Number.isSafeInteger(seedFrom) || !Number.isSafeInteger(seedTo) || seedTo < seedFrom || seedTo - seedFrom + 1 > seedsMax) {
    throw new TapwireError(`seeds must be a range A..B of at most ${seedsMax} integers, got ${seedFrom}..${seedTo}`, ErrorCode.ConfigInvalid);
  }
  const failing: SeedResult[] = [];
  const startedMs = performance.now();
  for (let seed = seedFrom; seed <= seedTo; seed++) {
    const result = await runSeedCaught(seed, options);
    if (result.violations.length > 0) failing.push(result);
    options.onSeed?.(result);
  }
  const elapsedMs = performance.now() - startedMs;
  const seeds = seedTo - seedFrom + 1;
  return { seedFrom, seedTo, seeds, failing, elapsedMs, seedsPerSecond: seeds / (elapsedMs / 1000) };
}

async function runSeedCaught(seed: number, options: RunOptions): Promise<SeedResult> {
  try {
    return await runSeed(seed, options);
  } catch (error) {
    const stats = { hubs: 0, sales: 0, faults: 0, payments: 0, traceLines: 0, virtualMs: 0 };
    const detail = `the world threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
    return { seed, digest: "", violations: [violation("world-failed", detail)], end: "idle", stats, trace: [] };
  }
}

/** The command that replays one seed (with the same limits: they shape what the seed draws). */
export function replayCommand(seed: number, options: Pick<RunOptions, "hubsMax" | "faultsMax">): string {
  const hubs = options.hubsMax === undefined ? "" : ` --hubs ${options.hubsMax}`;
  const faults = options.faultsMax === undefined ? "" : ` --faults ${options.faultsMax}`;
  return `tapwire sim explore --seeds ${seed}..${seed}${hubs}${faults}`;
}
