import { generateKeyPairSync, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ProcessesCpuMeter, peakRssMbOf, pidsOfGroup } from "../../bench/proc-cpu.ts";

const ownGroup = () => {
  const stat = readFileSync("/proc/self/stat", "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
};

describe.runIf(process.platform === "linux")("other processes' CPU and memory from /proc", () => {
  it("counts the CPU a process spends between start and stop, all of its threads", () => {
    const meter = new ProcessesCpuMeter([process.pid]);
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const cpuBefore = process.cpuUsage();
    for (let index = 0; index < 2_000; index += 1) sign("sha256", Buffer.from([index & 0xff]), privateKey);
    const spent = process.cpuUsage(cpuBefore);
    const measured = meter.stop();

    expect(measured.processes).toBe(1);
    // /proc counts in clock ticks (10 ms at 100 Hz): equal to the process's own figure within a tick or two.
    expect(measured.userMs + measured.systemMs).toBeGreaterThanOrEqual((spent.user + spent.system) / 1000 - 20);
  });

  it("finds a process group's members and their peak memory; a process that is gone counts nothing", () => {
    expect(pidsOfGroup(ownGroup())).toContain(process.pid);
    expect(peakRssMbOf([process.pid])).toBeGreaterThanOrEqual(process.memoryUsage.rss() / 1_048_576 - 1);

    const gone = new ProcessesCpuMeter([2 ** 22 + 1]).stop();
    expect(gone).toEqual({ processes: 0, userMs: 0, systemMs: 0 });
  });
});
