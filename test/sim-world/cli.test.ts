import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseSeeds, simExploreCommand } from "../../cli/sim-explore.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { runSeed } from "../../simulator/explore/run-scenario.ts";

function collect(): { output: Writable; lines: () => string[] } {
  let text = "";
  const output = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return { output, lines: () => text.trimEnd().split("\n") };
}

describe("tapwire sim explore", () => {
  it("explores a range of seeds, exits 0 when every invariant holds, and writes the JSON report", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tapwire-explore-"));
    const { output, lines } = collect();

    const exitCode = await simExploreCommand(["--seeds", "1..3", "--hubs", "2", "--json", join(dir, "report.json")], output);

    expect(exitCode).toBe(0);
    expect(lines()).toHaveLength(1);
    const report = JSON.parse(readFileSync(join(dir, "report.json"), "utf8")) as { seeds: number; failing: unknown[]; seedsPerSecond: number };
    expect(report).toMatchObject({ seeds: 3, failing: [] });
    expect(report.seedsPerSecond).toBeGreaterThan(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it("replays one seed in a fresh process to the digest this process gets for it", async () => {
    const inProcess = await runSeed(37);
    const { stdout } = await promisify(execFile)(process.execPath, ["bin/tapwire.mjs", "sim", "explore", "--seeds", "37..37"], {
      env: { ...process.env, TAPWIRE_LOG: "fatal" },
      timeout: 60_000,
    });
    const seedLine = stdout.split("\n").find((line) => line.startsWith("seed 37 "));
    expect(seedLine?.split(" ")[3]).toBe(inProcess.digest);
  }, 60_000);

  it("refuses a seed range that is not A..B with B ≥ A", () => {
    for (const bad of ["5..2", "a..b", "1..", "-1..3"]) expect(() => parseSeeds(bad)).toThrow(expect.objectContaining({ code: ErrorCode.ConfigInvalid }));
    expect(parseSeeds("417")).toEqual([417, 417]);
    expect(parseSeeds("417..420")).toEqual([417, 420]);
  });
});
