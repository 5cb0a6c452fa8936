import { describe, expect, it } from "vitest";
import { MachineStallMeter } from "../../bench/machine-stalls.ts";

// The meter measures the real clock, so this test stops its sleeper for real: a fake clock has no stall to show.
const stoppedMs = 40;

describe.runIf(process.platform === "linux")("the bench's machine-stall meter", () => {
  it("counts a sleep that ended late while its process could not run", async () => {
    const meter = MachineStallMeter.fork();
    try {
      await meter.start();
      const pid = meter.pid!;
      process.kill(pid, "SIGSTOP");
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, stoppedMs);
      process.kill(pid, "SIGCONT");
      const stalls = await meter.stop();

      expect(stalls.sleeps).toBeGreaterThan(0);
      expect(stalls.lateMaxMs).toBeGreaterThanOrEqual(stoppedMs - 2);
      expect(stalls.lateOver5Ms).toBeGreaterThanOrEqual(1);
      expect(stalls.lateOver5Ms).toBeLessThan(stalls.sleeps);
    } finally {
      meter.kill();
    }
  });
});
