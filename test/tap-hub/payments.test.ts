import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import type { WalletPayment } from "../../simulator/wallet-client/wallet-client.ts";
import { funded, inState, ready, startRig, waitMs, type Rig } from "./fixture.ts";

let rig: Rig | undefined;
afterEach(async () => {
  rig?.stack.node.service.ledger.checkInvariants();
  await rig?.close();
  rig = undefined;
});

/** Waits until the buzzer is quiet after exactly `beeps` beeps, then checks no further beep follows the result. */
async function expectBeeps(r: Rig, before: number, beeps: number): Promise<void> {
  await r.hub.board.waitUntil(() => r.hub.panelView().beeps === before + beeps && !r.hub.panelView().buzzer, waitMs);
  await inState(r, "idle");
  expect(r.hub.panelView().beeps).toBe(before + beeps);
}

describe("tap hub end to end: real drivers on virtual hardware, real broker and ledger", () => {
  it("reader mode: an HCE phone pays, the ledger shows the transfer, green LED and one beep", async () => {
    rig = await startRig();
    await ready(rig);
    await rig.hub.board.waitUntil(() => rig!.hub.panelView().blue, waitMs);
    expect(rig.hub.panelView()).toMatchObject({ green: false, red: false });
    const beepsBefore = rig.hub.panelView().beeps;

    rig.hub.setAmount(1250, "EUR", "reader");
    await inState(rig, "waitingForTap");
    await rig.hub.board.waitUntil(() => rig!.hub.panelView().amber, waitMs);
    rig.hub.placePhone(rig.hub.hcePhone());
    const approved = await inState(rig, "approved");

    expect(approved.tap).toMatchObject({ lastDecisionCode: 0, sale: { amountMinor: 1250, currency: "EUR", mode: "reader" } });
    await rig.hub.board.waitUntil(() => rig!.hub.panelView().green, waitMs);
    expect(rig.hub.panelView()).toMatchObject({ red: false, amber: false });
    await expectBeeps(rig, beepsBefore, 1);
    expect(rig.merchantBalance()).toBe(1250);
    expect(rig.walletBalance()).toBe(funded - 1250);
    expect(rig.stack.node.service.paymentsOf("m1")).toMatchObject([{ mode: "reader", walletId: "w1", amountMinor: 1250, status: "captured" }]);
  });

  it("tag mode: the phone reads the hub's offer, its wallet pays online, the hub learns approval over MQTT", async () => {
    rig = await startRig();
    await ready(rig);
    const beepsBefore = rig.hub.panelView().beeps;
    const walletAnswered = once(rig.hub, "walletPayment") as Promise<[WalletPayment]>;

    rig.hub.setAmount(800, "EUR", "tag");
    await inState(rig, "waitingForTap");
    rig.hub.placePhone(rig.hub.tagPhone());
    const approved = await inState(rig, "approved");
    const [payment] = await walletAnswered;

    expect(payment.decision).toMatchObject({ status: "approved", hubId: "h1", requestType: "wallet_tag_payment" });
    expect(approved.tap.lastDecisionCode).toBe(0);
    await rig.hub.board.waitUntil(() => rig!.hub.panelView().green, waitMs);
    await expectBeeps(rig, beepsBefore, 1);
    expect(rig.stack.node.service.findPayment("h1", payment.offer.offerId)).toMatchObject({ mode: "tag", amountMinor: 800 });
    expect(rig.merchantBalance()).toBe(800);
    expect(rig.walletBalance()).toBe(funded - 800);
  });

  it("declined for insufficient funds and over the wallet's per-payment limit: red LED, two beeps, nothing posted", async () => {
    rig = await startRig({ fundedMinor: 500 });
    await ready(rig);
    const phone = rig.hub.hcePhone();
    rig.hub.placePhone(phone);

    for (const [amountMinor, code] of [
      [1250, ErrorCode.InsufficientFunds],
      [60_000, ErrorCode.LimitExceeded],
    ] as const) {
      const beepsBefore = rig.hub.panelView().beeps;
      rig.hub.setAmount(amountMinor, "EUR", "reader");
      const declined = await inState(rig, "declined");
      expect(declined.tap.lastDecisionCode).toBe(code);
      await rig.hub.board.waitUntil(() => rig!.hub.panelView().red, waitMs);
      expect(rig.hub.panelView().green).toBe(false);
      await expectBeeps(rig, beepsBefore, 2);
    }
    expect(rig.stack.node.service.paymentsOf("m1")).toEqual([]);
    expect(rig.merchantBalance()).toBe(0);
    expect(rig.walletBalance()).toBe(500);
  });
});
