import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import type { SimWorld } from "../../simulator/world/world.ts";
import { inState, invariantsBroken, payments, sales, settle, smallWorld, startSale, until } from "./fixture.ts";

let world: SimWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const h1 = { kind: "hub" as const, id: "h1" };

describe("faults at a hub of the world: its reader, its clock, its power", () => {
  it("reader garbage: garbage bytes, NACKs and bad checksums from the PN532 are recovered and the sale charged once", async () => {
    world = await smallWorld();
    const hub = world.hubs[0]!;
    hub.chip.setFaults({ garbageBeforeFrames: 4, nackCommands: 2, badChecksumResponses: 2, splitChunks: true });

    await startSale(world, hub, 650);
    expect(await until(world, inState(hub, "approved"))).toBe(true);

    expect(hub.chip.faults).toMatchObject({ garbageBeforeFrames: 0, nackCommands: 0, badChecksumResponses: 0 });
    expect(payments(world)).toMatchObject([{ amountMinor: 650, status: "captured" }]);
  });

  it("reader hang: a chip that stops answering fails the tap on the driver's timeouts, in virtual time; once it answers, sales go on", async () => {
    world = await smallWorld();
    const hub = world.hubs[0]!;
    hub.chip.setFaults({ silentCommands: 1_000_000 });

    await startSale(world, hub, 400);
    expect(await until(world, () => hub.view().tap.state === "failed" || hub.view().tap.state === "timedOut")).toBe(true);
    expect(payments(world)).toEqual([]);

    hub.chip.setFaults({ silentCommands: 0 });
    expect(await until(world, inState(hub, "idle"))).toBe(true);
    await startSale(world, hub, 450);
    expect(await until(world, inState(hub, "approved"))).toBe(true);
    expect(payments(world)).toMatchObject([{ amountMinor: 450 }]);
  });

  it("reader gone: a pulled reader is 'reader gone' (sales refused with ReaderGone) until it is back and reopened", async () => {
    world = await smallWorld();
    const hub = world.hubs[0]!;

    hub.pullReader();
    await world.runFor(100);
    expect(hub.view().tap.readerPresent).toBe(false);
    hub.setAmount(500, "EUR", "reader");
    await world.runFor(10);
    expect(hub.view().tap.refusal?.code).toBe(ErrorCode.ReaderGone);

    hub.reattachReader();
    expect(await until(world, () => hub.view().tap.readerPresent)).toBe(true);
    await startSale(world, hub, 500);
    expect(await until(world, inState(hub, "approved"))).toBe(true);
  });

  it("clock skew: a hub clock a minute ahead is told 'clock wrong' and charges nobody; set right, its reversal goes through", async () => {
    world = await smallWorld();
    const hub = world.hubs[0]!;
    hub.skewMs = 60_000;

    await startSale(world, hub, 1_500);
    expect(await until(world, () => hub.view().tap.clockWrong)).toBe(true);
    expect(await until(world, inState(hub, "timedOut"))).toBe(true);
    expect(payments(world)).toEqual([]);

    hub.skewMs = 0;
    expect(await settle(world)).toBe(true);
    expect(hub.view().tap.clockWrong).toBe(false);
    expect(sales(hub).map((sale) => sale.outcome)).toEqual(["reversed"]);
    expect(payments(world).filter((payment) => payment.status === "captured")).toEqual([]);
    expect(invariantsBroken(world)).toEqual([]);
  });

  it("hub reboot: a hub that loses power with its payment unanswered resumes from its journal and the sale ends once", async () => {
    world = await smallWorld({ reboots: true });
    const hub = world.hubs[0]!;
    world.network.pipeOf(h1, "down")!.stall(world.nowMs + 60_000);
    await startSale(world, hub, 2_200);
    await world.runFor(2_000);
    expect(hub.view().tap.state).toBe("authorizing");

    await hub.crash();
    await world.runFor(5_000);
    await hub.start();
    expect(await settle(world)).toBe(true);

    const [sale] = sales(hub);
    expect(sale!.outcome).toBe("approved");
    expect(payments(world)).toMatchObject([{ amountMinor: 2_200, status: "captured" }]);
    // After the reboot the panel showed how the sale ended: approved, for the sale the journal approved.
    expect(world.approvals).toEqual([{ hubId: "h1", saleId: sale!.saleId, counterSaleId: sale!.saleId, shown: "approved", outcomeAtShow: "approved" }]);
    expect(invariantsBroken(world)).toEqual([]);
  });

  it("offline: with the link down, a reader sale within the floor limits is approved offline and forwarded once the link is back", async () => {
    const limits = { saleMaxMinor: 2_000, totalMaxMinor: 4_000, countMax: 3, ageMsMax: 3_600_000 };
    world = await smallWorld({ offline: { currency: "EUR", limits } });
    const hub = world.hubs[0]!;
    world.network.refuseConnects(world.nowMs + 60_000);
    world.network.cut(h1);
    await world.runFor(100);

    await startSale(world, hub, 1_800);
    expect(await until(world, inState(hub, "approvedOffline"))).toBe(true);
    expect(payments(world)).toEqual([]);

    expect(await settle(world)).toBe(true);
    expect(sales(hub).map((sale) => sale.outcome)).toEqual(["approved_offline"]);
    expect(payments(world)).toMatchObject([{ amountMinor: 1_800, status: "captured", mode: "offline" }]);
    expect(invariantsBroken(world)).toEqual([]);
  });
});
