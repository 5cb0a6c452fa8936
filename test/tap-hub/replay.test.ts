import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { importPrivatePem } from "../../protocol/keys.ts";
import { HceWallet } from "../../simulator/phones/hce-wallet.ts";
import type { WalletPayment } from "../../simulator/wallet-client/wallet-client.ts";
import { funded, inState, ready, startRig, type Rig } from "./fixture.ts";

let rig: Rig | undefined;
afterEach(async () => {
  rig?.stack.node.service.ledger.checkInvariants();
  await rig?.close();
  rig = undefined;
});

async function payByReader(r: Rig, amountMinor: number) {
  r.hub.setAmount(amountMinor, "EUR", "reader");
  const result = await r.hub.waitFor((view) => view.tap.state === "approved" || view.tap.state === "declined", 4_000);
  await inState(r, "idle");
  return result.tap;
}

describe("replays are refused end to end", () => {
  it("a cloned phone reusing a spent ATC is refused with CounterReplayed; a replayed cryptogram does not verify", async () => {
    rig = await startRig();
    await ready(rig);
    const phone = rig.hub.hcePhone(5);
    rig.hub.placePhone(phone);
    expect(await payByReader(rig, 1_000)).toMatchObject({ state: "approved" });

    // A clone holding the same key but a counter that has not moved on: a valid cryptogram over a spent ATC.
    const clone = new HceWallet({ walletId: "w1", privateKey: importPrivatePem(rig.bundles.wallet.keyPem!), atcStart: 5 });
    rig.hub.placePhone(clone);
    const cloned = await payByReader(rig, 1_000);
    // A recorded answer replayed as is: it was computed over another unpredictable number.
    rig.hub.placePhone(phone);
    phone.replayNextCryptogram();
    const replayed = await payByReader(rig, 1_000);

    expect(cloned).toMatchObject({ state: "declined", lastDecisionCode: ErrorCode.CounterReplayed });
    expect(replayed).toMatchObject({ state: "declined", lastDecisionCode: ErrorCode.PayerCredentialInvalid });
    expect(rig.stack.node.service.paymentsOf("m1")).toHaveLength(1);
    expect(rig.walletBalance()).toBe(funded - 1_000);
  });

  it("a wallet resubmitting an offer it already paid is refused with NonceReplayed; nothing moves twice", async () => {
    rig = await startRig();
    await ready(rig);
    const answered = once(rig.hub, "walletPayment") as Promise<[WalletPayment]>;
    rig.hub.setAmount(650, "EUR", "tag");
    rig.hub.placePhone(rig.hub.tagPhone());
    await inState(rig, "approved");
    const [first] = await answered;
    await inState(rig, "idle");

    const again = await rig.hub.walletClient.pay(first.offerBytes);

    expect(first.decision.status).toBe("approved");
    expect(again.decision).toMatchObject({ status: "declined", code: ErrorCode.NonceReplayed, requestId: first.offer.offerId });
    expect(rig.hub.snapshot().tap.state).toBe("idle");
    expect(rig.stack.node.service.paymentsOf("m1")).toHaveLength(1);
    expect(rig.walletBalance()).toBe(funded - 650);
  });
});
