import { writeFileSync } from "node:fs";
import type { Writable } from "node:stream";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { explore, replayCommand, seedsMax } from "../simulator/explore/explore.ts";
import type { SeedResult } from "../simulator/explore/run-scenario.ts";
import { integerFlag, parseFlags, requireFlag } from "./args.ts";

export const simExploreUsage = `tapwire sim explore --seeds A..B [--hubs N] [--json PATH] [--trace]
  Seeded whole-stack exploration: for each seed, a fleet of 1..N tap hubs (default 4), wallets, sales and faults
  are drawn from the seed and played on a virtual clock through the real hubs, reader driver and settlement
  service; then the money invariants are checked. Prints one line per failing seed with the command that replays
  it (same seed, same trace digest), and a summary; exits 1 if any seed fails. --json writes every failing seed's
  violations and digest; --trace prints each seed's trace. Hubs log their faults on stderr (TAPWIRE_LOG=error).`;

/** Violations printed per failing seed (the JSON report has them all). */
const violationsShownMax = 5;

export async function simExploreCommand(argv: string[], output: Writable = process.stdout): Promise<number> {
  const { values } = parseFlags(argv, {
    seeds: { type: "string" },
    hubs: { type: "string" },
    json: { type: "string" },
    trace: { type: "boolean", default: false },
  });
  const [seedFrom, seedTo] = parseSeeds(requireFlag(values.seeds, "seeds"));
  const hubsMax = values.hubs === undefined ? undefined : integerFlag(values.hubs, "hubs", 1, 16);
  const single = seedFrom === seedTo;
  const write = (line: string) => output.write(`${line}\n`);
  const summary = await explore(seedFrom, seedTo, {
    ...(hubsMax === undefined ? {} : { hubsMax }),
    keepTrace: values.trace,
    onSeed: (result) => {
      if (values.trace) for (const line of result.trace) write(`  ${line}`);
      if (single || result.violations.length > 0) write(describeSeed(result, hubsMax));
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
      failing: summary.failing.map((result) => ({ seed: result.seed, digest: result.digest, replay: replayCommand(result.seed, hubsMax), violations: result.violations })),
    };
    writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  }
  return failing === 0 ? 0 : 1;
}

function describeSeed(result: SeedResult, hubsMax: number | undefined): string {
  const head = `seed ${result.seed} digest ${result.digest}`;
  if (result.violations.length === 0) return `${head} ok`;
  const shown = result.violations.slice(0, violationsShownMax).map((violation) => `\n    ${violation.invariant}: ${violation.detail}`);
  const more = result.violations.length > violationsShownMax ? `\n    … ${result.violations.length - violationsShownMax} more` : "";
  return `${head} FAILED, replay: ${replayCommand(result.seed, hubsMax)}${shown.join("")}${more}`;
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
