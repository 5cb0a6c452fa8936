import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import type { SimWorld } from "../../simulator/world/world.ts";
import { inState, invariantsBroken, payments, sales, settle, smallWorld, startSale, traced, until } from "./fixture.ts";

let world: SimWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const h1 = { kind: "hub" as const, id: "h1" };

describe("network faults of the world's broker, one at a time, in a one-hub world", () => {
  it("drop: a payment lost on its way up is sent again by the outbox and charged once", async () => {
    world = await smallWorld();
    const hub = world.hubs[0]!;
    world.network.pipeOf(h1, "up")!.dropNext(1);

    await startSale(world, hub, 700);
    const tappedMs = world.nowMs;
    expect(await until(world, inState(hub, "approved"))).toBe(true);

    // The first send vanished: the approval waited for the outbox's resend (attemptTimeoutMs, 5 s ± 20 %).
    expect(world.nowMs - tappedMs).toBeGreaterThanOrEqual(4_000);
    expect(payments(world)).toMatchObject([{ amountMinor: 700, status: "captured" }]);
    expect(await settle(world)).toBe(true);
    expect(invariantsBroken(world)).toEqual([]);
  });

  it("drop: a decision lost on its way down is asked for again with the same bytes and answered from the store", async () => {
    world = await smallWorld();
    const hub = world.hubs[0]!;
    world.network.pipeOf(h1, "down")!.dropNext(1);

    await startSale(world, hub, 800);
    const tappedMs = world.nowMs;
    expect(await until(world, inState(hub, "approved"))).toBe(true);

    expect(world.nowMs - tappedMs).toBeGreaterThanOrEqual(4_000);
    expect(payments(world)).toHaveLength(1);
    expect(await settle(world)).toBe(true);
    expect(invariantsBroken(world)).toEqual([]);
  });

  it("duplicate: a payment delivered twice (QoS 1 redelivery) is charged once", async () => {
    world = await smallWorld();
    const hub = world.hubs[0]!;
    world.network.pipeOf(h1, "up")!.duplicateNext(1);

    await startSale(world, hub, 900);
    expect(await until(world, inState(hub, "approved"))).toBe(true);

    expect(traced(world, "duplicated payment_request")).toHaveLength(1);
    expect(payments(world)).toMatchObject([{ amountMinor: 900, status: "captured" }]);
    expect(await settle(world)).toBe(true);
    expect(invariantsBroken(world)).toEqual([]);
  });

  it("stall: a decision held past the decision timeout is reversed by the hub, and the customer is not charged", async () => {
    world = await smallWorld();
    const hub = world.hubs[0]!;
    world.network.pipeOf(h1, "down")!.stall(world.nowMs + 40_000);

    await startSale(world, hub, 1_000);
    expect(await until(world, inState(hub, "reversing"))).toBe(true);
    expect(hub.view().tap.lastDecisionCode).toBe(ErrorCode.DecisionTimeout);
    expect(await settle(world)).toBe(true);

    expect(sales(hub).map((sale) => sale.outcome)).toEqual(["reversed"]);
    expect(payments(world)).toMatchObject([{ amountMinor: 1_000, status: "reversed" }]);
    expect(invariantsBroken(world)).toEqual([]);
  });

  it("cut: the hub sees its link go, reconnects by itself and sells again", async () => {
    world = await smallWorld();
    const hub = world.hubs[0]!;

    world.network.cut(h1);
    await world.runFor(1);
    expect(hub.view().tap.online).toBe(false);
    expect(await until(world, () => hub.view().hub === "ready")).toBe(true);

    await startSale(world, hub, 300);
    expect(await until(world, inState(hub, "approved"))).toBe(true);
    expect(payments(world)).toHaveLength(1);
  });

  it("refuse: connects are refused (ConnectRefused) for a while, then accepted", async () => {
    world = await smallWorld();
    const hub = world.hubs[0]!;
    world.network.refuseConnects(world.nowMs + 30_000);

    world.network.cut(h1);
    await world.runFor(10_000);
    expect(hub.view().linkErrorCode).toBe(ErrorCode.ConnectRefused);
    expect(hub.view().tap.online).toBe(false);

    expect(await until(world, () => hub.view().hub === "ready", 120_000)).toBe(true);
    expect(world.nowMs).toBeGreaterThanOrEqual(30_000);
  });

  it("broker restart: every connection is cut and what was queued is lost; hubs reconnect once it answers again", async () => {
    world = await smallWorld({ hubs: 2 });
    const [first, second] = world.hubs;
    world.network.pipeOf(h1, "down")!.stall(world.nowMs + 5_000);
    await startSale(world, first!, 500);
    await world.runFor(500);

    world.network.restartBroker(20_000);
    expect(first!.view().tap.online).toBe(false);
    expect(second!.view().tap.online).toBe(false);
    await world.runFor(15_000);
    expect(world.hubs.map((hub) => hub.view().hub)).not.toContain("ready");

    expect(await settle(world)).toBe(true);
    expect(world.hubs.map((hub) => hub.view().hub)).toEqual(["ready", "ready"]);
    expect(traced(world, "lost decision")).not.toHaveLength(0);
    // The approval that was on its way was lost with the broker; the sale ended reversed, never charged twice.
    expect(payments(world).filter((payment) => payment.status === "captured")).toHaveLength(sales(first!).filter((sale) => sale.outcome === "approved").length);
    expect(invariantsBroken(world)).toEqual([]);
  });

  it("settlement kill: the service dies after committing and before its answer leaves; on restart the resend gets the stored decision", async () => {
    world = await smallWorld({ settlementKills: true });
    const hub = world.hubs[0]!;
    let killed = false;
    const stop = world.trace.onLine((line) => {
      if (!line.includes("service to hub/h1: decision")) return;
      stop();
      world!.later(0, async () => {
        await world!.settlement.kill();
        killed = true;
        world!.later(20_000, () => world!.settlement.start());
      });
    });

    await startSale(world, hub, 1_200);
    expect(await until(world, () => killed)).toBe(true);
    expect(traced(world, "lost decision")).toHaveLength(1);
    expect(await settle(world)).toBe(true);

    expect(payments(world)).toHaveLength(1);
    const [sale] = sales(hub);
    expect(payments(world)[0]!.status).toBe(sale!.outcome === "approved" ? "captured" : "reversed");
    expect(invariantsBroken(world)).toEqual([]);
  });
});
