import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { TagReadingWallet } from "../../simulator/phones/tag-reading-wallet.ts";
import { funded, inState, ready, startRig, until, waitMs, type Rig } from "./fixture.ts";

let rig: Rig | undefined;
afterEach(async () => {
  rig?.stack.node.service.ledger.checkInvariants();
  await rig?.close();
  rig = undefined;
});

describe("the cancel button on the virtual Firmata board", () => {
  it("pressed while waiting for a tap: cancelled, nothing sent, a phone arriving later is not read", async () => {
    rig = await startRig();
    await ready(rig);
    rig.hub.setAmount(1250, "EUR", "reader");
    await inState(rig, "waitingForTap");

    await rig.hub.pressCancel();
    const cancelled = await inState(rig, "cancelled");
    rig.hub.placePhone(rig.hub.hcePhone());
    await inState(rig, "idle");

    expect(cancelled.tap.lastDecisionCode).toBe(ErrorCode.Cancelled);
    expect(cancelled.tap.reversal).toBeUndefined();
    expect(rig.hub.panelView()).toMatchObject({ green: false, red: false });
    expect(rig.stack.node.service.paymentsOf("m1")).toEqual([]);
    expect(rig.walletBalance()).toBe(funded);
  });

  it("pressed during authorizing after the service captured the payment: the reversal nets it to zero", async () => {
    rig = await startRig({ viaProxy: true });
    await ready(rig);
    // Decisions are held between broker and hub, so the hub stays authorizing after the service has posted.
    rig.proxy!.hold("down");
    rig.hub.setAmount(2_000, "EUR", "reader");
    rig.hub.placePhone(rig.hub.hcePhone());
    await inState(rig, "authorizing");
    await until(() => rig!.stack.node.service.paymentsOf("m1").length === 1);
    expect(rig.merchantBalance()).toBe(2_000);

    await rig.hub.pressCancel();
    await inState(rig, "reversing");
    await until(() => rig!.stack.node.service.paymentsOf("m1")[0]?.status === "reversed");
    rig.proxy!.release("down");
    const cancelled = await inState(rig, "cancelled");

    expect(cancelled.tap).toMatchObject({ lastDecisionCode: ErrorCode.Cancelled, reversal: { status: "reversed", reason: "cancelled" } });
    expect(rig.merchantBalance()).toBe(0);
    expect(rig.walletBalance()).toBe(funded);
    expect(rig.hub.panelView().green).toBe(false);
  });

  it("tag mode, pressed after a phone read the offer: the offer is voided and a late wallet payment is refused", async () => {
    rig = await startRig();
    await ready(rig);
    const read: Uint8Array[] = [];
    // A phone that reads the offer but whose wallet has not paid yet when the cashier cancels.
    rig.hub.placePhone(new TagReadingWallet({ apduTimeoutMs: 300, onOffer: (offer) => void read.push(offer) }));
    rig.hub.setAmount(900, "EUR", "tag");
    await inState(rig, "authorizing");

    await rig.hub.pressCancel();
    const cancelled = await inState(rig, "cancelled");
    const late = await rig.hub.walletClient.pay(read[0]!);

    expect(cancelled.tap.reversal).toMatchObject({ status: "reversed", reason: "cancelled" });
    expect(late.decision).toMatchObject({ status: "declined", code: ErrorCode.Cancelled });
    expect(rig.stack.node.service.paymentsOf("m1")).toEqual([]);
    expect(rig.walletBalance()).toBe(funded);
    await rig.hub.board.waitUntil(() => !rig!.hub.panelView().amber, waitMs);
  });
});
