import type { JunitCase } from "./junit.ts";
import type { ScenarioResult } from "./run-scenario-file.ts";

/** Exit codes of `tapwire sim run`, as Wokwi's CLI uses them for its scenarios (42: timed out). */
export const exitCodes = { passed: 0, failed: 1, invalid: 2, timedOut: 42 } as const;

/** One file's end: a run (passed, failed, timed out), or a file that is not a valid scenario. */
export type FileReport = { kind: "ran"; result: ScenarioResult } | { kind: "invalid"; file: string; problems: string[]; elapsedMs: number };

/** The command that plays the same scenario with the same seed again: the same trace, the same digest. */
export function replayCommand(file: string, seed: number): string {
  return `tapwire sim run ${file} --seed ${seed}`;
}

/** A bad file wins (nothing of it ran), then a failed expectation, then a timeout. */
export function exitCodeOf(reports: readonly FileReport[]): number {
  if (reports.some((report) => report.kind === "invalid")) return exitCodes.invalid;
  const statuses = reports.flatMap((report) => (report.kind === "ran" ? [report.result.status] : []));
  if (statuses.includes("failed")) return exitCodes.failed;
  if (statuses.includes("timedOut")) return exitCodes.timedOut;
  return exitCodes.passed;
}

const seconds = (ms: number) => `${(ms / 1_000).toFixed(2)} s`;
const headline = { passed: "PASS", failed: "FAIL", timedOut: "TIMEOUT" } as const;

/** What a person reads: one line when it passed; the problems, the trace up to them and the replay command otherwise. */
export function reportLines(report: FileReport, options: { digest: boolean; trace: boolean }): string[] {
  if (report.kind === "invalid") return [`INVALID ${report.file}`, ...report.problems.map((problem) => `  ${problem}`)];
  const { result } = report;
  const lines = [`${headline[result.status]} ${result.file} (${result.name}) seed ${result.seed}, ${result.endMs} ms virtual, ${seconds(result.elapsedMs)}`];
  if (options.digest) lines.push(`  digest ${result.digest}`);
  if (options.trace) lines.push(...result.trace.map((line) => `  | ${line}`));
  if (result.status === "passed") return lines;
  lines.push(...result.problems.map((problem) => `  ${problem}`));
  if (!options.trace) lines.push("  trace up to there:", ...result.traceTail.map((line) => `  | ${line}`));
  lines.push(`  replay: ${replayCommand(result.file, result.seed)}`);
  return lines;
}

export function junitCaseOf(report: FileReport): JunitCase {
  if (report.kind === "invalid") {
    return { name: report.file, file: report.file, status: "invalid", elapsedMs: report.elapsedMs, message: report.problems[0] ?? "invalid", details: report.problems.join("\n") };
  }
  const { result } = report;
  const output = `seed ${result.seed} digest ${result.digest}`;
  if (result.status === "passed") return { name: result.name, file: result.file, status: "passed", elapsedMs: result.elapsedMs, output };
  const details = [...result.problems, "", "trace up to there:", ...result.traceTail, "", `replay: ${replayCommand(result.file, result.seed)}`].join("\n");
  return { name: result.name, file: result.file, status: result.status, elapsedMs: result.elapsedMs, message: result.problems[0] ?? result.status, details, output };
}
