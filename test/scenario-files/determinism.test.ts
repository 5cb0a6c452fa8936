import { execFile } from "node:child_process";
import { promisify } from "node:util";
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

  it("a fresh process replays a glasses scenario to the digest this process gets for it", async () => {
    const inProcess = await runScenarioFile(loadScenario("scenarios/glasses-take-it-voiceprint.yaml"), 5);
    const { stdout } = await promisify(execFile)(process.execPath, ["bin/tapwire.mjs", "sim", "run", "scenarios/glasses-take-it-voiceprint.yaml", "--seed", "5", "--digest"], {
      env: { ...process.env, TAPWIRE_LOG: "fatal" },
      timeout: 60_000,
    });

    expect(stdout.split("\n")).toContain(`  digest ${inProcess.digest}`);
  }, 60_000);
});
