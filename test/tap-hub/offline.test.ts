import { afterEach, describe, expect, it } from "vitest";
import type { OfflineLimits } from "../../protocol/contract.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import type { Clock } from "../../core/sources.ts";
import type { HceWallet } from "../../simulator/phones/hce-wallet.ts";
import { SimulatedTapHub } from "../../simulator/scenarios/tap/simulated-tap-hub.ts";
import { inState, ready, startRig, until, waitMs, type Rig } from "./fixture.ts";

/** The merchant's floor limits, set alike on the hub and on the merchant's record at the service. */
const limits: OfflineLimits = { saleMaxMinor: 2_000, totalMaxMinor: 5_000, countMax: 3, ageMsMax: 600_000 };

/** The hub's clock, which a test can move forward to age the backlog; the service keeps real time. */
class OffsetClock implements Clock {
  offsetMs = 0;
  nowMs(): number {
    return Date.now() + this.offsetMs;
  }
}

let rig: Rig | undefined;
afterEach(async () => {
  rig?.stack.node.service.ledger.checkInvariants();
  await rig?.close();
  rig = undefined;
});

async function offlineRig(options: { fundedMinor?: number; clock?: Clock } = {}): Promise<Rig> {
  const started = await startRig({
    viaProxy: true,
    ...(options.fundedMinor === undefined ? {} : { fundedMinor: options.fundedMinor }),
    overrides: { offline: { currency: "EUR", limits }, ...(options.clock ? { clock: options.clock } : {}) },
  });
  started.stack.node.registry.setOfflineLimits("m1", limits);
  await ready(started);
  return started;
}

async function cutLink(current: Rig): Promise<void> {
  current.proxy!.refusing = true;
  current.proxy!.cutAll();
  await current.hub.waitFor((view) => !view.tap.online && view.tap.state === "idle", waitMs);
}

/** One reader-mode sale while offline: the phone taps, the hub approves offline or declines it. */
async function offlineSale(current: Rig, phone: HceWallet, amountMinor: number) {
  current.hub.setAmount(amountMinor, "EUR", "reader");
  current.hub.placePhone(phone);
  const done = await current.hub.waitFor((view) => view.tap.state === "approvedOffline" || view.tap.state === "declined", waitMs);
  current.hub.removePhone();
  await inState(current, "idle");
  return done.tap;
}

describe("offline store and forward (reader mode, within the merchant's floor limits)", () => {
  it("with the link cut, sales up to each floor limit are approved offline and the next one is refused; each capture settles exactly once when the link returns", async () => {
    const clock = new OffsetClock();
    rig = await offlineRig({ clock });
    const phone = rig.hub.hcePhone();
    await cutLink(rig);

    expect(await offlineSale(rig, phone, 2_001)).toMatchObject({ state: "declined", lastDecisionCode: ErrorCode.OfflineFloorExceeded });
    expect(await offlineSale(rig, phone, 2_000)).toMatchObject({ state: "approvedOffline", lastDecisionCode: 0 });
    expect(rig.hub.panelView()).toMatchObject({ blue: false });
    expect(await offlineSale(rig, phone, 2_000)).toMatchObject({ state: "approvedOffline" });
    expect(await offlineSale(rig, phone, 1_001)).toMatchObject({ state: "declined", lastDecisionCode: ErrorCode.OfflineFloorExceeded });
    expect(await offlineSale(rig, phone, 1_000)).toMatchObject({ state: "approvedOffline" });
    expect(await offlineSale(rig, phone, 100)).toMatchObject({ state: "declined", lastDecisionCode: ErrorCode.OfflineFloorExceeded });
    expect(rig.hub.snapshot().offlineBacklog).toEqual({ count: 3, totalMinor: 5_000 });
    rig.hub.setAmount(500, "EUR", "tag");
    expect(rig.hub.snapshot().tap.refusal?.code).toBe(ErrorCode.OfflineUnavailable);
    expect(rig.stack.node.service.paymentsOf("m1")).toEqual([]);

    clock.offsetMs = 0;
    rig.proxy!.refusing = false;
    await until(() => rig!.stack.node.service.paymentsOf("m1").length === 3, waitMs);
    await rig.hub.waitFor((view) => view.offlineBacklog.count === 0, waitMs);

    const payments = rig.stack.node.service.paymentsOf("m1");
    expect(payments.map((payment) => payment.mode)).toEqual(["offline", "offline", "offline"]);
    expect(new Set(payments.map((payment) => payment.requestId)).size).toBe(3);
    expect(rig.merchantBalance()).toBe(5_000);
    expect(rig.stack.node.service.offlineLosses()).toEqual([]);
  });

  it("the oldest capture's age is a floor limit too", async () => {
    const clock = new OffsetClock();
    rig = await offlineRig({ clock });
    const phone = rig.hub.hcePhone();
    await cutLink(rig);

    expect(await offlineSale(rig, phone, 500)).toMatchObject({ state: "approvedOffline" });
    clock.offsetMs = limits.ageMsMax + 1_000;
    expect(await offlineSale(rig, phone, 500)).toMatchObject({ state: "declined", lastDecisionCode: ErrorCode.OfflineFloorExceeded });

    clock.offsetMs = 0;
    rig.proxy!.refusing = false;
    await until(() => rig!.stack.node.service.paymentsOf("m1").length === 1, waitMs);
    expect(rig.merchantBalance()).toBe(500);
  });

  it("a hub rebooted while offline still forwards its captures, in order, once", async () => {
    rig = await offlineRig();
    const phone = rig.hub.hcePhone();
    await cutLink(rig);
    await offlineSale(rig, phone, 700);
    await offlineSale(rig, phone, 800);
    const journalFile = rig.hub.journalFile;
    await rig.hub.stop();

    // The phone wallet's own link would wait for the broker too; this hub only needs its journal.
    const rebooted = new SimulatedTapHub({ ...rig.hub.options, journalFile, wallet: undefined });
    rig.hub = rebooted;
    await rebooted.start();
    expect(rebooted.snapshot().offlineBacklog).toEqual({ count: 2, totalMinor: 1_500 });
    rig.proxy!.refusing = false;
    await until(() => rig!.stack.node.service.paymentsOf("m1").length === 2, waitMs);
    await rebooted.waitFor((view) => view.offlineBacklog.count === 0, waitMs);

    expect(rig.stack.node.service.paymentsOf("m1").map((payment) => payment.amountMinor).sort()).toEqual([700, 800]);
    expect(rig.merchantBalance()).toBe(1_500);
  });

  it("a forwarded capture the service declines is the merchant's recorded loss, not dropped", async () => {
    rig = await offlineRig({ fundedMinor: 1_000 });
    const phone = rig.hub.hcePhone();
    await cutLink(rig);
    await offlineSale(rig, phone, 600);
    await offlineSale(rig, phone, 600);

    rig.proxy!.refusing = false;
    await until(() => rig!.stack.node.service.offlineLosses().length === 1, waitMs);
    await rig.hub.waitFor((view) => view.offlineBacklog.count === 0, waitMs);

    expect(rig.stack.node.service.offlineLosses()[0]).toMatchObject({ merchantId: "m1", amountMinor: 600, code: ErrorCode.InsufficientFunds });
    expect(rig.stack.node.service.paymentsOf("m1")).toHaveLength(1);
    expect(rig.merchantBalance()).toBe(600);
    expect(rig.hub.snapshot().tap.lastSale).toMatchObject({ outcome: "approved_offline", code: ErrorCode.InsufficientFunds });
  });
});
