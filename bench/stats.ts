import { readFileSync } from "node:fs";
import { performance, type EventLoopUtilization } from "node:perf_hooks";
import { assert } from "../core/assert.ts";
import type { CpuSpent, WritesSpent } from "./generator-protocol.ts";

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** Fixed-capacity latency samples: the capacity is the run's payment bound, so nothing grows unchecked. */
export class LatencyRecorder {
  private readonly samples: Float64Array;
  private count = 0;

  constructor(readonly capacity: number) {
    assert(Number.isSafeInteger(capacity) && capacity > 0, "latency capacity must be a positive integer");
    this.samples = new Float64Array(capacity);
  }

  record(latencyMs: number): void {
    assert(this.count < this.capacity, "more latency samples than payments allowed");
    this.samples[this.count] = latencyMs;
    this.count += 1;
  }

  summary(): LatencySummary {
    const sorted = this.samples.slice(0, this.count).sort();
    return summarize(sorted);
  }
}

/** Nearest-rank percentiles over ascending samples. */
export function summarize(sortedMs: Float64Array): LatencySummary {
  const count = sortedMs.length;
  if (count === 0) return { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0, meanMs: 0 };
  const at = (q: number) => sortedMs[Math.min(count - 1, Math.max(0, Math.ceil(q * count) - 1))]!;
  let total = 0;
  for (const value of sortedMs) total += value;
  return { count, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), maxMs: sortedMs[count - 1]!, meanMs: total / count };
}

/**
 * The main thread's Linux /proc/self/schedstat: nanoseconds on a core, and nanoseconds runnable but waiting
 * for one (on a shared machine, the time other processes took from us); undefined elsewhere.
 */
function mainThreadSchedNs(): { runNs: number; waitNs: number } | undefined {
  try {
    const fields = readFileSync("/proc/self/schedstat", "utf8").trim().split(/\s+/);
    const runNs = Number(fields[0]);
    const waitNs = Number(fields[1]);
    return Number.isFinite(runNs) && Number.isFinite(waitNs) ? { runNs, waitNs } : undefined;
  } catch {
    return undefined;
  }
}

/** This process's writes so far (Linux /proc/self/io: syscw, wchar, write_bytes); undefined elsewhere. */
function writesSoFar(): WritesSpent | undefined {
  try {
    const fields = new Map(
      readFileSync("/proc/self/io", "utf8")
        .trim()
        .split("\n")
        .map((line) => line.split(":").map((part) => part.trim()) as [string, string]),
    );
    const writes = { calls: Number(fields.get("syscw")), bytes: Number(fields.get("wchar")), diskBytes: Number(fields.get("write_bytes")) };
    return Object.values(writes).every(Number.isSafeInteger) ? writes : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU time and event-loop utilization of this process from construction to `stop()`, with what tells a busy
 * loop apart from a blocked one: time waiting for a core, and context switches (voluntary = the thread
 * blocked, e.g. in fsync; involuntary = it was preempted).
 */
export class CpuMeter {
  private readonly cpuStart = process.cpuUsage();
  private readonly eluStart: EventLoopUtilization = performance.eventLoopUtilization();
  private readonly usageStart = process.resourceUsage();
  private readonly schedStart = mainThreadSchedNs();
  private readonly writesStart = writesSoFar();

  stop(): CpuSpent {
    const cpu = process.cpuUsage(this.cpuStart);
    const elu = performance.eventLoopUtilization(this.eluStart);
    const usage = process.resourceUsage();
    const sched = mainThreadSchedNs();
    const start = this.schedStart;
    const writes = writesSoFar();
    const writesStart = this.writesStart;
    return {
      userMs: cpu.user / 1000,
      systemMs: cpu.system / 1000,
      eventLoopUtilization: elu.utilization,
      ...(sched !== undefined && start !== undefined
        ? { runQueueWaitMs: (sched.waitNs - start.waitNs) / 1e6, mainThreadCpuMs: (sched.runNs - start.runNs) / 1e6 }
        : {}),
      voluntaryContextSwitches: usage.voluntaryContextSwitches - this.usageStart.voluntaryContextSwitches,
      involuntaryContextSwitches: usage.involuntaryContextSwitches - this.usageStart.involuntaryContextSwitches,
      ...(writes !== undefined && writesStart !== undefined
        ? {
            writes: {
              calls: writes.calls - writesStart.calls,
              bytes: writes.bytes - writesStart.bytes,
              diskBytes: writes.diskBytes - writesStart.diskBytes,
            },
          }
        : {}),
    };
  }
}

export function countInto(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}
