import { describe, expect, it } from "vitest";
import { runSeed } from "../../simulator/explore/run-scenario.ts";
import { inState, smallWorld, startSale, until } from "./fixture.ts";

describe("a seed is a world: the same seed, the same trace", () => {
  it("replays byte for byte: the same seed twice gives the same trace and digest, with other seeds run in between", async () => {
    const first = await runSeed(37, { keepTrace: true });
    await runSeed(5);
    await runSeed(6);
    const again = await runSeed(37, { keepTrace: true });

    expect(again.trace).toEqual(first.trace);
    expect(again.digest).toBe(first.digest);
    expect(first.stats.faults).toBeGreaterThan(0);
    expect(first.stats.payments).toBeGreaterThan(0);
  });

  it("different seeds draw different worlds", async () => {
    const digests = new Set<string>();
    for (let seed = 100; seed < 110; seed++) digests.add((await runSeed(seed)).digest);
    expect(digests.size).toBe(10);
  });

  it("a hand-built world played twice the same way leaves the same trace", async () => {
    const play = async () => {
      const world = await smallWorld({ hubs: 2, seed: 7 });
      await startSale(world, world.hubs[0]!, 700);
      await startSale(world, world.hubs[1]!, 900, "tag");
      await until(world, () => inState(world.hubs[0]!, "idle")() && inState(world.hubs[1]!, "idle")());
      const trace = [...world.trace.lines];
      await world.close();
      return trace;
    };
    expect(await play()).toEqual(await play());
  });
});
