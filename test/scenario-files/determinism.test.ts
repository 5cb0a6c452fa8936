import { describe, expect, it } from "vitest";
import { simRunCommand } from "../../cli/sim-run.ts";
import { loadScenario } from "../../simulator/scenario-files/load-scenario.ts";
import { runScenarioFile } from "../../simulator/scenario-files/run-scenario-file.ts";
import { collect } from "./fixture.ts";

describe("scenario runs are deterministic", () => {
  it("the same file and seed give the same trace digest, a tap world and a glasses world alike; another seed another", async () => {
    for (const file of ["scenarios/link-cut-while-authorizing.yaml", "scenarios/ble-drop-during-purchase.yaml"]) {
      const scenario = loadScenario(file);
      const first = await runScenarioFile(scenario);
      const second = await runScenarioFile(scenario);
      const reseeded = await runScenarioFile(scenario, scenario.seed + 1);

      expect(second.digest).toBe(first.digest);
      expect(second.trace).toEqual(first.trace);
      expect(reseeded.digest).not.toBe(first.digest);
    }
  });

  it("--digest prints the digest a run in this process gets, and --seed replaces the file's seed", async () => {
    const scenario = loadScenario("scenarios/agent-step-up.yaml");
    const inProcess = await runScenarioFile(scenario, 99);
    const { output, lines } = collect();

    await simRunCommand(["scenarios/agent-step-up.yaml", "--seed", "99", "--digest"], output);

    expect(lines()).toContain(`  digest ${inProcess.digest}`);
  });
});
