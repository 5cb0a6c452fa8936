import { describe, expect, it } from "vitest";
import { wholeRunCounts, type GeneratorReport, type WarmupReport } from "../../bench/generator-protocol.ts";

const latency = { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0, meanMs: 0 };
const cpu = { userMs: 0, systemMs: 0, eventLoopUtilization: 0, voluntaryContextSwitches: 0, involuntaryContextSwitches: 0 };

function report(approved: number, declinedByCode: Record<string, number>, warmup?: WarmupReport): GeneratorReport {
  return { sent: approved, approved, declinedByCode, failedByCode: {}, elapsedMs: 1_000, latency, retried: 0, cpu, ...(warmup ? { warmup } : {}) };
}

describe("bench: the whole run's counts, against the ledger and the node's /metrics", () => {
  it("adds the warm-up's approved and declined to the measured load's, code by code", () => {
    const warmup: WarmupReport = { sent: 7, approved: 5, declinedByCode: { "declined:Overloaded": 1, "declined:LimitExceeded": 1 }, failedByCode: {}, elapsedMs: 3_000, latency };

    expect(wholeRunCounts(report(40, { "declined:LimitExceeded": 2 }, warmup))).toEqual({
      approved: 45,
      declinedByCode: { "declined:LimitExceeded": 3, "declined:Overloaded": 1 },
    });
  });

  it("is the measured load's own counts without a warm-up", () => {
    expect(wholeRunCounts(report(40, { "declined:LimitExceeded": 2 }))).toEqual({ approved: 40, declinedByCode: { "declined:LimitExceeded": 2 } });
  });
});
