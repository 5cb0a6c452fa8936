import { readFileSync } from "node:fs";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import type { BenchReport } from "./report.ts";

/** A previous run's JSON report (`npm run bench` writes one per run). */
export function readReport(path: string): BenchReport {
  try {
    const report = JSON.parse(readFileSync(path, "utf8")) as BenchReport;
    if (typeof report.headline?.approvedPerSecond !== "number") throw new Error("no headline in it");
    return report;
  } catch (error) {
    throw new TapwireError(`--compare ${path}: not a bench report (${(error as Error).message})`, ErrorCode.ConfigInvalid);
  }
}

interface Figure {
  name: string;
  of: (report: BenchReport) => number | undefined;
  /** Whether a larger value is the better one (throughput) or the worse (CPU, latency). */
  higherIsBetter: boolean;
}

const figures: Figure[] = [
  { name: "approved payments/s", of: (r) => r.headline.approvedPerSecond, higherIsBetter: true },
  { name: "efficiency", of: (r) => r.headline.efficiency, higherIsBetter: true },
  { name: "floor µs/payment", of: (r) => r.floor?.usPerPayment, higherIsBetter: false },
  { name: "settlement CPU µs/payment", of: (r) => r.headline.nodeCpuUsPerPayment, higherIsBetter: false },
  { name: "generator CPU µs/payment", of: (r) => r.headline.generatorCpuUsPerPayment, higherIsBetter: false },
  { name: "latency p50 ms", of: (r) => r.load.generator.latency.p50Ms, higherIsBetter: false },
  { name: "latency p99 ms", of: (r) => r.load.generator.latency.p99Ms, higherIsBetter: false },
  { name: "node RSS peak MB", of: (r) => r.load.node?.rssPeakMb, higherIsBetter: false },
  { name: "node loop delay p99 ms", of: (r) => r.load.node?.loopDelay?.p99Ms, higherIsBetter: false },
  // A report from before the stall meter (2026-12-05) has none.
  { name: "machine stall max ms", of: (r) => r.load.machineStalls?.lateMaxMs, higherIsBetter: false },
  { name: "node KB written/payment", of: (r) => nodeWrittenKbPerPayment(r), higherIsBetter: false },
];

function nodeWrittenKbPerPayment(report: BenchReport): number | undefined {
  const writes = report.load.node?.cpu.writes;
  const approved = report.load.generator.approved;
  return writes === undefined || approved === 0 ? undefined : writes.bytes / 1024 / approved;
}

/** Each headline figure of `current` against `previous`: both values, the ratio, and whether it got better. */
export function renderComparison(previous: BenchReport, current: BenchReport, previousPath: string): string {
  const lines = [`Against ${previousPath} (${previous.startedAt}, load average ${previous.machine.loadAverage1mBefore.toFixed(2)} then ${current.machine.loadAverage1mBefore.toFixed(2)} now):`];
  for (const figure of figures) {
    const before = figure.of(previous);
    const after = figure.of(current);
    if (before === undefined || after === undefined) continue;
    const ratio = before === 0 ? Number.NaN : after / before;
    const better = Number.isNaN(ratio) || ratio === 1 ? "same" : (ratio > 1) === figure.higherIsBetter ? "better" : "worse";
    lines.push(`  ${figure.name.padEnd(26)} ${format(before).padStart(10)} → ${format(after).padStart(10)}   ×${Number.isNaN(ratio) ? "—" : ratio.toFixed(2)}  ${better}`);
  }
  return lines.join("\n");
}

function format(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(2);
}
