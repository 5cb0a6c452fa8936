import { afterEach, describe, expect, it } from "vitest";
import type { SimWorld } from "../../simulator/world/world.ts";
import { inState, invariantsBroken, smallWorld, startSale, until } from "./fixture.ts";

/**
 * Found by `tapwire sim explore --seeds 1..1000` (seeds 146, 663 and 692 broke "shown-wrong-sale" before the fix),
 * reduced by hand to the smallest world that shows it.
 */

let world: SimWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const h1 = { kind: "hub" as const, id: "h1" };

describe("a hub clock stepped back (an NTP correction, a dead RTC battery set right)", () => {
  /**
   * After a reboot the tap machine reads the journal's last sale to decide what the panel says. Ordered by the
   * hub's wall clock, an older sale would sort after the one at the counter, and the panel would show its green
   * "approved" while the sale at the counter is still pending. The journal orders by insertion.
   */
  it("a reboot follows the sale at the counter, not an older sale that the clock now sorts later", async () => {
    world = await smallWorld({ reboots: true });
    const hub = world.hubs[0]!;
    await startSale(world, hub, 700);
    expect(await until(world, inState(hub, "idle"))).toBe(true);
    hub.removePhone();

    hub.skewMs = -600_000;
    world.network.pipeOf(h1, "down")!.stall(world.nowMs + 120_000);
    await startSale(world, hub, 900);
    await world.runFor(2_000);
    const atCounter = hub.saleIds.at(-1)!;
    expect(hub.journal.sale(atCounter)!.outcome).toBe("pending");
    await hub.crash();
    await hub.start();
    await world.runFor(10);

    expect(hub.journal.lastSale()?.saleId).toBe(atCounter);
    expect(hub.view().tap.state).toBe("recovering");
    expect(invariantsBroken(world)).not.toContain("shown-wrong-sale");
  });
});
