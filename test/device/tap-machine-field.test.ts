import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { TapHub } from "../../device/tap-hub.ts";
import { defaultTapTiming } from "../../device/tap/tap-config.ts";
import { flush, hubId, HubRig, merchantId, signer } from "./fakes.ts";
import { FakeIndicator, FakeReader, offlineLimits, tapConfig, TapRig } from "./tap-fakes.ts";

const { decisionTimeoutMs, resultDisplayMs } = defaultTapTiming;
const offline = { currency: "EUR", limits: offlineLimits };

describe("tap machine offline (store and forward)", () => {
  it("a reader sale within the floor limits is approved offline, its capture journaled, and forwarded once the link is back", async () => {
    const rig = new TapRig({ online: false }, tapConfig({ offline }));
    expect(rig.indicator.last).toBe("offline");
    rig.setAmount(1_000);
    rig.reader.tap();
    await flush();

    expect(rig.view).toMatchObject({ state: "approvedOffline", lastDecisionCode: 0, lastSale: { outcome: "approved_offline", amountMinor: 1_000 } });
    expect(rig.indicator.last).toBe("approvedOffline");
    expect(rig.indicator.beeps).toEqual(["approved"]);
    expect(rig.journal.offlineBacklog()).toMatchObject({ count: 1, totalMinor: 1_000 });
    expect(rig.settlement.published).toHaveLength(0);

    rig.settlement.setOnline(true);
    expect(rig.settlement.ofType("offline_capture")).toHaveLength(1);
  });

  it("over a floor limit: declined with OfflineFloorExceeded, nothing stored", async () => {
    const rig = new TapRig({ online: false }, tapConfig({ offline }));
    rig.setAmount(offlineLimits.saleMaxMinor + 1);
    rig.reader.tap();
    await flush();

    expect(rig.view).toMatchObject({ state: "declined", lastDecisionCode: ErrorCode.OfflineFloorExceeded });
    expect(rig.journal.lastSale()).toBeUndefined();
  });

  it.each([
    ["tag mode", { offline }, "tag", "EUR"],
    ["offline sales off", {}, "reader", "EUR"],
    ["another currency than the limits'", { offline }, "reader", "USD"],
  ] as const)("refuses with OfflineUnavailable: %s", (_, config, mode, currency) => {
    const rig = new TapRig({ online: false }, tapConfig(config));
    rig.setAmount(1_000, mode, currency);

    expect(rig.view).toMatchObject({ state: "idle", refusal: { code: ErrorCode.OfflineUnavailable } });
    expect(rig.reader.reads).toHaveLength(0);
    expect(rig.reader.offers).toHaveLength(0);
  });

  it("the link decides at the tap: down by then with offline sales off, the sale is declined Offline and nothing journaled", async () => {
    const rig = new TapRig();
    rig.setAmount(1_000);
    rig.settlement.setOnline(false);
    rig.reader.tap();
    await flush();

    expect(rig.view).toMatchObject({ state: "declined", lastDecisionCode: ErrorCode.Offline });
    expect(rig.journal.lastSale()).toBeUndefined();
  });
});

describe("tap machine after a restart", () => {
  it("with a sale pending: recovering until the resent payment is decided, then the last sale is shown", async () => {
    const rig = new TapRig();
    rig.setAmount(1_250);
    rig.reader.tap();
    await flush();
    const [payment] = rig.settlement.published;
    rig.powerCut();
    rig.boot();

    expect(rig.view.state).toBe("recovering");
    expect(rig.indicator.last).toBe("authorizing");
    const resent = rig.settlement.sendsOf(String(payment!.body["requestId"]));
    expect(resent.at(-1)!.bytes.equals(payment!.bytes)).toBe(true);
    rig.setAmount(100);
    expect(rig.view.refusal?.code).toBe(ErrorCode.BusyAlready);

    rig.settlement.answer(resent.at(-1)!, "approved");
    await flush();

    expect(rig.view).toMatchObject({ state: "showingLastSale", lastSale: { outcome: "approved", amountMinor: 1_250 } });
    expect(rig.indicator.last).toBe("approved");
    rig.clock.advance(resultDisplayMs);
    expect(rig.view.state).toBe("idle");
  });

  it("with the last sale settled: shows how it ended, then idle", async () => {
    const rig = new TapRig();
    rig.setAmount(1_250);
    rig.reader.tap();
    await flush();
    rig.settlement.answer(rig.settlement.published[0]!, "declined", ErrorCode.InsufficientFunds);
    await flush();
    rig.powerCut();
    rig.boot();

    expect(rig.view).toMatchObject({ state: "showingLastSale", lastSale: { outcome: "declined", code: ErrorCode.InsufficientFunds } });
    expect(rig.indicator.last).toBe("cancelled");
  });

  it("a pending sale not settled within decisionTimeoutMs: the panel goes idle and the outbox keeps at it", async () => {
    const rig = new TapRig();
    rig.setAmount(1_250);
    rig.reader.tap();
    await flush();
    rig.powerCut();
    rig.boot();
    rig.clock.advance(decisionTimeoutMs);
    await flush();

    expect(rig.view.state).toBe("idle");
    expect(rig.outbox.size).toBe(1);
  });
});

describe("tap hub: a bug is a crash, never a reversal or a red LED", () => {
  function tapHub(reader: FakeReader) {
    const rig = new HubRig();
    const indicator = new FakeIndicator();
    const crashes: unknown[] = [];
    const hub = new TapHub(
      { reader, indicator, settlement: rig.settlement, link: { connect: async () => undefined }, signer, journal: rig.journal, clock: rig.clock, timers: rig.clock, random: rig.random },
      { hubId, merchantId, onCrash: (error) => crashes.push(error) },
    );
    hub.start();
    return { rig, indicator, crashes, hub };
  }

  it("a reader that throws a plain Error: onCrash gets it, nothing is journaled, the LEDs never say error", async () => {
    const reader = new FakeReader();
    const { rig, indicator, crashes, hub } = tapHub(reader);
    await flush();
    const bug = new TypeError("driver bug");
    hub.setAmount(1_000, "EUR", "reader");
    reader.reads[0]!.answer.reject(bug);
    await flush();

    expect(crashes).toEqual([bug]);
    expect(indicator.shown).not.toContain("error");
    expect(rig.journal.lastSale()).toBeUndefined();
    hub.stop();
  });

  it("a settlement port that throws a plain Error as the payment leaves: a crash, and no reversal is journaled", async () => {
    const reader = new FakeReader();
    const { rig, indicator, crashes, hub } = tapHub(reader);
    await flush();
    const bug = new RangeError("adapter bug");
    rig.settlement.publish = () => {
      throw bug;
    };
    hub.setAmount(1_000, "EUR", "reader");
    reader.tap();
    await flush();

    expect(crashes).toEqual([bug]);
    expect(indicator.shown).not.toContain("error");
    const sale = rig.journal.lastSale()!;
    expect(rig.journal.requestsOf(sale.saleId).map((request) => request.kind)).toEqual(["payment"]);
    // Not stopped: a crashed hub's process ends here, and stopping would reject the outbox's waiter for the
    // payment with no machine left to hear it.
  });
});
