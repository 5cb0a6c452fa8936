import { writeFileSync } from "node:fs";
import type { Writable } from "node:stream";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { explore, replayCommand, seedsMax } from "../simulator/explore/explore.ts";
import type { RunOptions, SeedResult } from "../simulator/explore/run-scenario.ts";
import { integerFlag, parseFlags, requireFlag } from "./args.ts";

export const simExploreUsage = `tapwire sim explore --seeds A..B [--hubs N] [--faults N] [--json PATH] [--trace]
  Seeded whole-stack exploration: for each seed, a fleet of 1..N tap hubs (default 4), wallets, sales, maybe an
  agent with a mandate, and 0..N faults (default 6) are drawn from the seed and played on a virtual clock through
  the real hubs, reader driver and settlement service; then the money invariants are checked. Prints one line per
  failing seed with the invariants it broke and the command that replays it (same seed, same trace digest; a
  single seed also lists its violations), and a summary; exits 1 if any seed fails. --json writes every failing
  seed's violations and digest; --trace prints each seed's trace. Hubs log the faults they meet on stderr
  (TAPWIRE_LOG=fatal keeps it quiet).
  example: tapwire sim explore --seeds 1..50`;

/** Violations a replayed seed prints (the JSON report has them all). */
const violationsShownMax = 5;

export async function simExploreCommand(argv: string[], output: Writable = process.stdout): Promise<number> {
  const { values } = parseFlags(argv, {
    seeds: { type: "string" },
    hubs: { type: "string" },
    faults: { type: "string" },
    json: { type: "string" },
    trace: { type: "boolean", default: false },
  });
  const [seedFrom, seedTo] = parseSeeds(requireFlag(values.seeds, "seeds"));
  const limits = {
    ...(values.hubs === undefined ? {} : { hubsMax: integerFlag(values.hubs, "hubs", 1, 16) }),
    ...(values.faults === undefined ? {} : { faultsMax: integerFlag(values.faults, "faults", 0, 100) }),
  };
  const single = seedFrom === seedTo;
  const write = (line: string) => output.write(`${line}\n`);
  const summary = await explore(seedFrom, seedTo, {
    ...limits,
    keepTrace: values.trace,
    onSeed: (result) => {
      if (values.trace) for (const line of result.trace) write(`  ${line}`);
      if (single || result.violations.length > 0) write(describeSeed(result, limits, single));
    },
  });
  const failing = summary.failing.length;
  write(
    `${summary.seeds} seeds ${seedFrom}..${seedTo}: ${failing === 0 ? "every invariant held" : `${failing} failing`}; ` +
      `${summary.seedsPerSecond.toFixed(1)} seeds/s (${(summary.elapsedMs / 1000).toFixed(1)} s)`,
  );
  if (values.json !== undefined) {
    const report = {
      seedFrom,
      seedTo,
      seeds: summary.seeds,
      seedsPerSecond: summary.seedsPerSecond,
      failing: summary.failing.map((result) => ({ seed: result.seed, digest: result.digest, replay: replayCommand(result.seed, limits), violations: result.violations })),
    };
    writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  }
  return failing === 0 ? 0 : 1;
}

/** One line per seed; a replayed single seed also lists its violations, the first few, one per line. */
function describeSeed(result: SeedResult, limits: Pick<RunOptions, "hubsMax" | "faultsMax">, detailed: boolean): string {
  if (result.violations.length === 0) return `seed ${result.seed} digest ${result.digest} ok`;
  const broken = [...new Set(result.violations.map((violation) => violation.invariant))].join(", ");
  const line = `seed ${result.seed} digest ${result.digest} FAILED ${broken}; replay: ${replayCommand(result.seed, limits)}`;
  if (!detailed) return line;
  const shown = result.violations.slice(0, violationsShownMax).map((violation) => `\n    ${violation.invariant}: ${violation.detail}`);
  const more = result.violations.length > violationsShownMax ? `\n    … ${result.violations.length - violationsShownMax} more (--json has them all)` : "";
  return `${line}${shown.join("")}${more}`;
}

/** `A..B` or a single `A`: non-negative integers, B ≥ A, at most seedsMax of them. */
export function parseSeeds(text: string): [number, number] {
  const match = /^(\d{1,15})(?:\.\.(\d{1,15}))?$/.exec(text);
  const from = Number(match?.[1]);
  const to = Number(match?.[2] ?? match?.[1]);
  if (!match || to < from || to - from + 1 > seedsMax) {
    throw new TapwireError(`--seeds must be A..B (B ≥ A, at most ${seedsMax} seeds) or one seed, got ${JSON.stringify(text)}`, ErrorCode.ConfigInvalid);
  }
  return [from, to];
}
