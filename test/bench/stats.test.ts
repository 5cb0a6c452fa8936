import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CpuMeter } from "../../bench/stats.ts";

describe.runIf(process.platform === "linux")("the bench's own CPU meter", () => {
  it("counts this process's write calls and bytes between start and stop", () => {
    const dir = mkdtempSync(join(tmpdir(), "tapwire-bench-writes-"));
    const fd = openSync(join(dir, "written"), "w");
    try {
      const meter = new CpuMeter();
      const block = Buffer.alloc(4096, 7);
      for (let index = 0; index < 50; index += 1) writeSync(fd, block);
      const { writes } = meter.stop();
      // The test runner's own threads may write too (its reporter), so at least what the loop wrote.
      expect(writes?.calls).toBeGreaterThanOrEqual(50);
      expect(writes?.bytes).toBeGreaterThanOrEqual(50 * 4096);
      expect(writes?.diskBytes).toBeGreaterThanOrEqual(0);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
