import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { importPrivatePem } from "../../protocol/keys.ts";
import { HceWallet } from "../../simulator/phones/hce-wallet.ts";
import { funded, inState, ready, startRig, until, waitMs, type Rig } from "./fixture.ts";

let rig: Rig | undefined;
afterEach(async () => {
  rig?.stack.node.service.ledger.checkInvariants();
  await rig?.close();
  rig = undefined;
});

async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === "object" && address ? address.port : 0;
}

describe("faults on the wire, in the field and on the network", () => {
  it("garbage bytes, split frames and a corrupt checksum from the PN532 are recovered; the payment goes through once", async () => {
    rig = await startRig();
    await ready(rig);
    rig.hub.chip.setFaults({ garbageBeforeFrames: 6, splitChunks: true, badChecksumResponses: 2 });

    rig.hub.setAmount(700, "EUR", "reader");
    rig.hub.placePhone(rig.hub.hcePhone());
    await inState(rig, "approved");

    expect(rig.hub.chip.faults).toMatchObject({ garbageBeforeFrames: 0, badChecksumResponses: 0 });
    expect(rig.stack.node.service.paymentsOf("m1")).toHaveLength(1);
    expect(rig.merchantBalance()).toBe(700);
  });

  it("a phone pulled away mid-read is read again when it comes back; one that never does ends in TapTimeout", async () => {
    rig = await startRig();
    await ready(rig);
    const phone = rig.hub.hcePhone();
    rig.hub.chip.setFaults({ removeTargetAtApdu: 2 });

    rig.hub.setAmount(1_100, "EUR", "reader");
    rig.hub.placePhone(phone);
    await until(() => rig!.hub.chip.faults.removeTargetAtApdu === 0);
    expect(rig.hub.snapshot().tap.state).toBe("waitingForTap");
    rig.hub.placePhone(phone);
    await inState(rig, "approved");
    expect(rig.stack.node.service.paymentsOf("m1")).toHaveLength(1);
    await inState(rig, "idle");

    rig.hub.chip.setFaults({ removeTargetAtApdu: 2 });
    rig.hub.setAmount(1_100, "EUR", "reader");
    const timedOut = await inState(rig, "timedOut");
    expect(timedOut.tap.lastDecisionCode).toBe(ErrorCode.TapTimeout);
    expect(rig.stack.node.service.paymentsOf("m1")).toHaveLength(1);
    expect(rig.merchantBalance()).toBe(1_100);
  });

  it("broker unreachable from the start, offline sales off: the hub shows offline, refuses amounts and never approves", async () => {
    // No wallet link either: its broker is just as unreachable.
    rig = await startRig({ brokerUrl: `mqtts://127.0.0.1:${await deadPort()}`, overrides: { wallet: undefined } });
    await rig.hub.waitFor((view) => view.hub === "reconnecting", waitMs);
    const key = importPrivatePem(rig.bundles.wallet.keyPem!);
    rig.hub.placePhone(new HceWallet({ walletId: "w1", privateKey: key, atcStart: 1 }));

    rig.hub.setAmount(1_000, "EUR", "reader");
    const refused = rig.hub.snapshot();
    // The refusal is synchronous: the next reconnect attempt changes nothing about it.
    await rig.hub.waitFor((view) => view.hub === "connecting", waitMs);

    expect(refused.tap).toMatchObject({ state: "idle", online: false, refusal: { code: ErrorCode.OfflineUnavailable } });
    expect(rig.hub.snapshot().hub).not.toBe("ready");
    expect(rig.hub.panelView()).toMatchObject({ blue: false, green: false, amber: false });
    expect(rig.hub.chip.commandsSeen).not.toContain(0x4a);
    expect(rig.walletBalance()).toBe(funded);
  });

  it("connection lost while waiting for a tap, offline sales off: the tap is declined as offline, nothing sent; then it reconnects and pays", async () => {
    rig = await startRig({ viaProxy: true });
    await ready(rig);
    rig.hub.setAmount(1_000, "EUR", "reader");
    await inState(rig, "waitingForTap");

    rig.proxy!.refusing = true;
    rig.proxy!.cutAll();
    await rig.hub.waitFor((view) => !view.tap.online, waitMs);
    // The link decides at the moment of the tap: the phone is read, then the sale cannot go online.
    rig.hub.placePhone(rig.hub.hcePhone());
    const declined = await inState(rig, "declined");
    rig.hub.removePhone();
    await inState(rig, "idle");
    rig.hub.setAmount(1_000, "EUR", "reader");
    expect(rig.hub.snapshot().tap.refusal?.code).toBe(ErrorCode.OfflineUnavailable);

    expect(declined.tap.lastDecisionCode).toBe(ErrorCode.Offline);
    expect(rig.stack.node.service.paymentsOf("m1")).toEqual([]);

    rig.proxy!.refusing = false;
    await ready(rig);
    rig.hub.setAmount(1_000, "EUR", "reader");
    rig.hub.placePhone(rig.hub.hcePhone(2));
    await inState(rig, "approved");
    expect(rig.merchantBalance()).toBe(1_000);
  });

  it("connection lost while authorizing: the payment the service captured is reversed, with production lifetimes, once the link is back", async () => {
    rig = await startRig({ viaProxy: true });
    await ready(rig);
    rig.proxy!.hold("down");
    rig.hub.setAmount(3_000, "EUR", "reader");
    rig.hub.placePhone(rig.hub.hcePhone());
    await until(() => rig!.stack.node.service.paymentsOf("m1").length === 1);

    rig.proxy!.refusing = true;
    rig.proxy!.cutAll();
    rig.proxy!.release("down");
    // No decision within the decision timeout: the hub reverses, journals it, and tells the customer.
    const timedOut = await inState(rig, "timedOut");
    expect(timedOut.tap).toMatchObject({ lastDecisionCode: ErrorCode.DecisionTimeout, reversal: { status: "pending" } });
    expect(rig.merchantBalance()).toBe(3_000);
    rig.proxy!.refusing = false;
    await until(() => rig!.stack.node.service.paymentsOf("m1")[0]?.status === "reversed");
    await rig.hub.waitFor((view) => view.tap.lastSale?.outcome === "reversed", waitMs);
    expect(rig.merchantBalance()).toBe(0);
    expect(rig.walletBalance()).toBe(funded);
  });
});
