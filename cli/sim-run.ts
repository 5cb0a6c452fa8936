import { readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Writable } from "node:stream";
import { ErrorCode, TapwireError, isTapwireError } from "../protocol/errors.ts";
import { junitXml } from "../simulator/scenario-files/junit.ts";
import { loadScenario, problemsOf } from "../simulator/scenario-files/load-scenario.ts";
import { exitCodeOf, junitCaseOf, reportLines, type FileReport } from "../simulator/scenario-files/report.ts";
import { runScenarioFile } from "../simulator/scenario-files/run-scenario-file.ts";
import { seedMax } from "../simulator/scenario-files/scenario-schema.ts";
import { integerFlag, parseFlags } from "./args.ts";

export const simRunUsage = `tapwire sim run FILE|DIR... [--seed N] [--junit PATH] [--digest] [--trace]
  Runs YAML scenarios (scenarios/README.md) on a virtual clock against the real hub runtime, the real drivers on
  virtual hardware and the real settlement service. A directory runs its *.yaml files (not its sub-directories).
  --seed replaces each file's seed; --junit writes JUnit XML (one testcase per file); --digest prints each run's
  trace digest (the same file and seed give the same digest); --trace prints each run's trace. A failure prints
  the expectation, the trace up to it and the command that replays it. Exit 0: every expectation held; 1: one
  failed; 42: a scenario did not finish within its virtual timeout; 2: a file is not a valid scenario.
  example: tapwire sim run scenarios --junit report.xml`;

/** Files one run may take. */
export const filesMax = 1_000;

/** The files named, directories expanded to their YAML files in name order. */
export function scenarioFiles(paths: readonly string[]): string[] {
  const files = paths.flatMap((path) => {
    let directory = false;
    try {
      directory = statSync(path).isDirectory();
    } catch {
      return [path];
    }
    if (!directory) return [path];
    return readdirSync(path)
      .filter((name) => /\.ya?ml$/.test(name))
      .sort()
      .map((name) => join(path, name));
  });
  if (files.length === 0) throw new TapwireError("name at least one scenario file or directory", ErrorCode.ConfigInvalid);
  if (files.length > filesMax) throw new TapwireError(`at most ${filesMax} scenario files per run, got ${files.length}`, ErrorCode.ConfigInvalid);
  return files;
}

/** A file that does not parse, or asks the world for something it refuses (a campaign the service finds invalid), is invalid. */
async function runFile(file: string, seed: number | undefined): Promise<FileReport> {
  const startedMs = performance.now();
  try {
    const scenario = loadScenario(file);
    return { kind: "ran", result: await runScenarioFile(scenario, seed ?? scenario.seed) };
  } catch (error) {
    if (!isTapwireError(error, ErrorCode.ConfigInvalid)) throw error;
    return { kind: "invalid", file, problems: problemsOf(error), elapsedMs: performance.now() - startedMs };
  }
}

export async function simRunCommand(argv: string[], output: Writable = process.stdout): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    seed: { type: "string" },
    junit: { type: "string" },
    digest: { type: "boolean", default: false },
    trace: { type: "boolean", default: false },
  });
  const seed = values.seed === undefined ? undefined : integerFlag(values.seed, "seed", 0, seedMax);
  const files = scenarioFiles(positionals);
  const write = (line: string) => output.write(`${line}\n`);
  const reports: FileReport[] = [];
  const startedMs = performance.now();
  for (const file of files) {
    const report = await runFile(file, seed);
    reports.push(report);
    for (const line of reportLines(report, { digest: values.digest, trace: values.trace })) write(line);
  }
  const count = (status: string) => reports.filter((report) => (report.kind === "invalid" ? "invalid" : report.result.status) === status).length;
  write(
    `sim run: ${reports.length} scenario(s), ${count("passed")} held, ${count("failed")} broke, ${count("timedOut")} timed out, ` +
      `${count("invalid")} invalid (${((performance.now() - startedMs) / 1_000).toFixed(1)} s)`,
  );
  if (values.junit !== undefined) writeFileSync(values.junit, junitXml("tapwire sim run", reports.map(junitCaseOf)));
  return exitCodeOf(reports);
}
