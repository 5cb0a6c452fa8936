import { afterAll, describe, expect, it, vi } from "vitest";
import { decodeBody } from "../../protocol/cbor.ts";
import { readEnvelope } from "../../protocol/envelope.ts";
import { explore } from "../../simulator/explore/explore.ts";
import { runSeed } from "../../simulator/explore/run-scenario.ts";
import type { SimHubLink } from "../../simulator/world/sim-hub-link.ts";
import type { HubLinkPorts } from "../../simulator/world/sim-tap-hub.ts";

// Thousands of faults make thousands of expected warnings and errors (reader gone, clock wrong); a bug shows as a
// violation or a fatal machine crash, so only fatal lines are printed. Set before any module takes its logger
// (vi.hoisted runs first), and put back for the test files after this one.
const logLevel = vi.hoisted(() => {
  const before = process.env["TAPWIRE_LOG"];
  process.env["TAPWIRE_LOG"] ??= "fatal";
  return before;
});
afterAll(() => {
  if (logLevel === undefined) delete process.env["TAPWIRE_LOG"];
  else process.env["TAPWIRE_LOG"] = logLevel;
});

/**
 * The planted bug: a hub's settlement adapter that silently loses every reversal it is handed (it says the broker
 * has it, and sends nothing), as a link with a wrong topic for reversals would. Everything else passes through.
 * The other bug the brief suggests, a reversal lifetime above what the service accepts, cannot be built without a
 * way around the hub's own contract check in device/ (validateTapConfig) or a lowered service floor, and neither
 * exists outside a test of those modules; this adapter needs no such path.
 */
function losingReversals(_hubId: string, link: SimHubLink): HubLinkPorts {
  const isReversal = (payload: Buffer) => (decodeBody(readEnvelope(payload).payload) as { type?: string }).type === "reversal";
  return {
    get online() {
      return link.online;
    },
    connect: (input) => link.connect(input),
    publish: (payload) => (isReversal(payload) ? Promise.resolve() : link.publish(payload)),
    onDecision: (listener) => link.onDecision(listener),
    onStatus: (listener) => link.onStatus(listener),
  };
}

const hooks = { wrapLink: losingReversals };

describe("a planted bug", () => {
  it("is found by exploration, and the failing seed replays to the same trace digest and the same violations", async () => {
    const summary = await explore(1, 20, { hooks });

    expect(summary.failing.length).toBeGreaterThan(0);
    const failing = summary.failing[0]!;
    expect(failing.violations.map((violation) => violation.invariant)).toContain("not-settled");
    const replay = await runSeed(failing.seed, { hooks });
    expect(replay.digest).toBe(failing.digest);
    expect(replay.violations).toEqual(failing.violations);
  });

  it("is the cause: the same seeds hold every invariant without it", async () => {
    const summary = await explore(1, 20);
    expect(summary.failing).toEqual([]);
  });
});
