import { describe, expect, it } from "vitest";
import { simRunCommand } from "../../cli/sim-run.ts";
import { exitCodes, replayCommand } from "../../simulator/scenario-files/report.ts";
import { approvedSale, collect, scenarioDir } from "./fixture.ts";

describe("tapwire sim run: exit codes", () => {
  it("exits 0 when every expectation holds", async () => {
    const files = scenarioDir({ "ok.yaml": approvedSale });
    const { output, lines } = collect();

    expect(await simRunCommand([files.path("ok.yaml")], output)).toBe(exitCodes.passed);
    expect(lines()).toHaveLength(2);
    files.cleanup();
  });

  it("exits 1 on the deliberately broken scenario and prints the command that replays it", async () => {
    const { output, lines } = collect();

    expect(await simRunCommand(["scenarios/failing/broken-expectation.yaml"], output)).toBe(exitCodes.failed);
    expect(lines()).toContain(`  replay: ${replayCommand("scenarios/failing/broken-expectation.yaml", 1)}`);
  });

  it("exits 42 on the deliberately hung scenario (its virtual timeout comes first), with its replay command", async () => {
    const { output, lines } = collect();

    expect(await simRunCommand(["scenarios/failing/hung.yaml"], output)).toBe(exitCodes.timedOut);
    expect(lines()).toContain(`  replay: ${replayCommand("scenarios/failing/hung.yaml", 1)}`);
  });

  it("exits 2 for a file that is not a valid scenario, and for one that does not exist; nothing of it runs", async () => {
    const files = scenarioDir({ "bad.yaml": approvedSale.replace("timeoutMs: 60s", "timeoutMs: later") });

    expect(await simRunCommand([files.path("bad.yaml")], collect().output)).toBe(exitCodes.invalid);
    expect(await simRunCommand([files.path("missing.yaml")], collect().output)).toBe(exitCodes.invalid);
    files.cleanup();
  });

  it("fails a step that cannot be done (a step-up on a payment that is not held) with 1", async () => {
    const agentScenario = `
timeoutMs: 1m
world:
  merchants: [{ id: m1, currency: EUR }]
  wallets: [{ id: w1, funds: "50.00 EUR", perPaymentMax: "20.00 EUR" }]
  agents:
    - { id: a1, mandates: [{ id: md1, wallet: w1, merchant: m1, budget: "10.00 EUR", perPaymentMax: "10.00 EUR" }] }
steps:
  - { at: 1s, id: p1, agentPay: { agent: a1, mandate: md1, amount: "2.00 EUR" } }
  - { at: 5s, stepUp: { payment: p1, answer: approve } }
expect:
  - { within: 10s, agent: { payment: p1, status: approved } }
`;
    const files = scenarioDir({ "step-up.yaml": agentScenario });

    expect(await simRunCommand([files.path("step-up.yaml")], collect().output)).toBe(exitCodes.failed);
    files.cleanup();
  });

  it("with several files, a bad file wins over a failure, which wins over a timeout", async () => {
    const files = scenarioDir({ "bad.yaml": "timeoutMs: 1s" });
    const broken = "scenarios/failing/broken-expectation.yaml";
    const hung = "scenarios/failing/hung.yaml";

    expect(await simRunCommand([hung, broken], collect().output)).toBe(exitCodes.failed);
    expect(await simRunCommand([hung, broken, files.path("bad.yaml")], collect().output)).toBe(exitCodes.invalid);
    files.cleanup();
  });
});
