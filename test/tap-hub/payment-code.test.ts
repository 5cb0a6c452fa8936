import { afterEach, describe, expect, it } from "vitest";
import { systemRandom } from "../../core/sources.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256, importPrivatePem } from "../../protocol/keys.ts";
import { issuePaymentCode } from "../../protocol/payment-code.ts";
import { scanLineLimitsDefault } from "../../firmware-bridge/hid/scan-lines.ts";
import { funded, inState, ready, startRig, until, waitMs, type Rig } from "./fixture.ts";

let rig: Rig | undefined;
afterEach(async () => {
  rig?.stack.node.service.ledger.checkInvariants();
  await rig?.close();
  rig = undefined;
});

/** A reader-mode sale of `amountMinor` paid by scanning `code`; resolves with the state it ended in. */
async function scannedSale(current: Rig, amountMinor: number, code: string) {
  current.hub.setAmount(amountMinor, "EUR", "reader");
  await inState(current, "waitingForTap");
  expect(current.hub.scanner.scan(code)).toBe(true);
  const done = await current.hub.waitFor((view) => view.tap.state === "approved" || view.tap.state === "declined", waitMs);
  await inState(current, "idle");
  return done.tap;
}

describe("payment codes scanned at the counter: a USB HID scanner, real driver on a virtual scanner, real service and ledger", () => {
  it("the wallet's code, scanned instead of a tap, pays the sale once", async () => {
    rig = await startRig();
    await ready(rig);

    const tap = await scannedSale(rig, 1_250, rig.hub.walletCode());

    expect(tap).toMatchObject({ state: "approved", lastDecisionCode: 0 });
    expect(rig.merchantBalance()).toBe(1_250);
    expect(rig.walletBalance()).toBe(funded - 1_250);
    expect(rig.stack.node.service.paymentsOf("m1")).toMatchObject([{ mode: "reader", walletId: "w1", amountMinor: 1_250, status: "captured" }]);
  });

  it("a scanner in HID POS mode (no keystrokes on the console) pays the same way", async () => {
    rig = await startRig({ overrides: { scannerMode: "pos" } });
    await ready(rig);

    expect(await scannedSale(rig, 1_100, rig.hub.walletCode())).toMatchObject({ state: "approved", lastDecisionCode: 0 });
    expect(rig.walletBalance()).toBe(funded - 1_100);
  });

  it("a scanner that reads the code twice in a row (the phone held up too long) pays once (duplicated)", async () => {
    rig = await startRig();
    await ready(rig);
    const code = rig.hub.walletCode();
    rig.hub.setAmount(800, "EUR", "reader");
    await inState(rig, "waitingForTap");

    rig.hub.scanner.scan(code);
    rig.hub.scanner.scan(code);
    await inState(rig, "approved");
    await inState(rig, "idle");

    expect(rig.walletBalance()).toBe(funded - 800);
    expect(rig.stack.node.service.paymentsOf("m1")).toHaveLength(1);
  });

  it("the same code scanned again for the next sale is declined: a code pays once (replayed)", async () => {
    rig = await startRig();
    await ready(rig);
    const code = rig.hub.walletCode();
    await scannedSale(rig, 500, code);

    const again = await scannedSale(rig, 700, code);

    expect(again).toMatchObject({ state: "declined", lastDecisionCode: ErrorCode.NonceReplayed });
    expect(rig.walletBalance()).toBe(funded - 500);
    expect(rig.stack.node.service.paymentsOf("m1")).toHaveLength(1);
  });

  it("a code signed by another key, and an expired code, are declined and charge nothing (forged, expired)", async () => {
    rig = await startRig();
    await ready(rig);
    const forged = issuePaymentCode({ walletId: "w1", privateKey: generateP256().privateKey, nowMs: Date.now(), random: systemRandom }).text;
    const expired = issuePaymentCode({ walletId: "w1", privateKey: importPrivatePem(rig.bundles.wallet.keyPem!), nowMs: Date.now() - 120_000, random: systemRandom }).text;

    expect(await scannedSale(rig, 300, forged)).toMatchObject({ state: "declined", lastDecisionCode: ErrorCode.PayerCredentialInvalid });
    expect(await scannedSale(rig, 300, expired)).toMatchObject({ state: "declined", lastDecisionCode: ErrorCode.MessageExpired });
    expect(rig.walletBalance()).toBe(funded);
    expect(rig.merchantBalance()).toBe(0);
  });

  it("a product barcode or a broken-off scan keeps the sale waiting with an error beep; the next whole scan pays (malformed, interrupted)", async () => {
    // The hub's clock, moved past the scanner's inter-character pause to stand for the customer pulling away.
    const clock = { offsetMs: 0, nowMs: () => Date.now() + clock.offsetMs };
    rig = await startRig({ overrides: { clock } });
    await ready(rig);
    rig.hub.setAmount(900, "EUR", "reader");
    await inState(rig, "waitingForTap");
    const beepsBefore = rig.hub.panelView().beeps;
    const code = rig.hub.walletCode();

    rig.hub.scanner.scan("4006381333931");
    await rig.hub.waitFor((view) => view.tap.refusal?.code === ErrorCode.ScanInvalid, waitMs);
    // The error pattern is three beeps; the sale is still waiting for a tap or a scan.
    await rig.hub.board.waitUntil(() => rig!.hub.panelView().beeps === beepsBefore + 3 && !rig!.hub.panelView().buzzer, waitMs);
    expect(rig.hub.snapshot().tap.state).toBe("waitingForTap");
    // Half a code and no Enter (the customer pulled the phone away): nothing happens until a whole scan follows.
    rig.hub.scanner.scan(code.slice(0, 40), { whole: false });
    clock.offsetMs += scanLineLimitsDefault.interCharMsMax + 1;
    rig.hub.scanner.scan(code);

    const done = await rig.hub.waitFor((view) => view.tap.state === "approved" || view.tap.state === "declined", waitMs);
    expect(done.tap).toMatchObject({ state: "approved", lastDecisionCode: 0 });
    expect(rig.walletBalance()).toBe(funded - 900);
  });

  it("an unplugged scanner is reopened while taps go on; scanning works again once it is back", async () => {
    rig = await startRig();
    await ready(rig);
    expect(rig.hub.scannerPresent).toBe(true);

    rig.hub.scanner.unplug();
    await until(() => !rig!.hub.scannerPresent);
    rig.hub.setAmount(400, "EUR", "reader");
    await inState(rig, "waitingForTap");
    rig.hub.placePhone(rig.hub.hcePhone());
    await inState(rig, "approved");
    rig.hub.removePhone();
    await inState(rig, "idle");
    await until(() => rig!.hub.scannerPresent, waitMs);

    expect(await scannedSale(rig, 600, rig.hub.walletCode())).toMatchObject({ state: "approved" });
    expect(rig.walletBalance()).toBe(funded - 1_000);
  });

  it("offline, a scanned code is declined at once rather than stored: its one use is checked by the service", async () => {
    rig = await startRig({ viaProxy: true, overrides: { offline: { currency: "EUR", limits: { saleMaxMinor: 2_000, totalMaxMinor: 5_000, countMax: 3, ageMsMax: 600_000 } } } });
    await ready(rig);
    rig.proxy!.refusing = true;
    rig.proxy!.cutAll();
    await rig.hub.waitFor((view) => !view.tap.online && view.tap.state === "idle", waitMs);

    const tap = await scannedSale(rig, 500, rig.hub.walletCode());

    expect(tap).toMatchObject({ state: "declined", lastDecisionCode: ErrorCode.Offline });
    expect(rig.hub.snapshot().tap.lastSale).toBeUndefined();
    expect(rig.walletBalance()).toBe(funded);
  });
});
