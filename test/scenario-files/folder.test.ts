import { describe, expect, it } from "vitest";
import { scenarioFiles, simRunCommand } from "../../cli/sim-run.ts";
import { exitCodes } from "../../simulator/scenario-files/report.ts";
import { collect } from "./fixture.ts";

describe("the shipped scenarios", () => {
  it("every file in scenarios/ (not failing/) passes, as .ci/run runs them", async () => {
    const { output, lines } = collect();

    const exitCode = await simRunCommand(["scenarios/"], output);

    expect(lines().filter((line) => /^(FAIL|TIMEOUT|INVALID) /.test(line))).toEqual([]);
    expect(exitCode).toBe(exitCodes.passed);
    expect(scenarioFiles(["scenarios/"]).length).toBeGreaterThanOrEqual(30);
  });

  it("a directory runs its YAML files in name order, not its sub-directories", () => {
    const files = scenarioFiles(["scenarios/"]);

    expect(files).toEqual([...files].sort());
    expect(files.some((file) => file.includes("failing"))).toBe(false);
    expect(files.every((file) => file.endsWith(".yaml"))).toBe(true);
  });
});
