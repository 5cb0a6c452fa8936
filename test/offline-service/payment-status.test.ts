import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import type { SettlementFixture } from "../settlement/fixtures.ts";
import { approvedPayment } from "../settlement/preamble.ts";
import { floor, hourMs, offlineFixtureEachTest } from "./preamble.ts";

let f: SettlementFixture;
offlineFixtureEachTest((created) => (f = created));

describe("payment_status: what became of a payment the hub lost track of", () => {
  it("answers a captured payment with its own receipt, moving no money, and a retry with the same bytes", async () => {
    const payment = f.hub.paymentRequest(f.wallet, 1_250);
    const paid = await f.decisionFor(f.hub, payment.bytes);
    const transfers = f.service.ledger.transferCount();
    f.clock.advance(5_000);
    const query = f.hub.paymentStatus(payment.body.requestId);

    const first = await f.fromHub(f.hub, query.bytes);
    const retry = await f.fromHub(f.hub, query.bytes);

    const status = f.open(first[0]!.payload);
    expect(status).toMatchObject({ status: "approved", code: 0, requestType: "payment_status", requestId: query.body.requestId });
    expect(status.receipt).toEqual(paid.receipt);
    expect(retry[0]!.payload.equals(first[0]!.payload)).toBe(true);
    expect(f.service.ledger.transferCount()).toBe(transfers);
    expect(f.service.verifyEvidence().problems).toEqual([]);
  });

  it("answers AlreadyReversed for a reversed payment and for one voided before it arrived", async () => {
    const reversedId = await approvedPayment(f, 300);
    await f.decisionFor(f.hub, f.hub.reversal(reversedId).bytes);
    await f.decisionFor(f.hub, f.hub.reversal("h1-never-arrived").bytes);

    const reversed = await f.decisionFor(f.hub, f.hub.paymentStatus(reversedId).bytes);
    const voided = await f.decisionFor(f.hub, f.hub.paymentStatus("h1-never-arrived").bytes);

    expect([reversed.code, voided.code]).toEqual([ErrorCode.AlreadyReversed, ErrorCode.AlreadyReversed]);
    expect([reversed.status, voided.status]).toEqual(["declined", "declined"]);
  });

  it("answers UnknownPayment when there is none, also for another merchant's payment", async () => {
    f.service.registry.enrollMerchant({ merchantId: "m2", currency: "EUR" });
    const otherShop = f.enrollHub("h-m2", "m2");
    const theirs = otherShop.paymentRequest(f.wallet, 200);
    await f.decisionFor(otherShop, theirs.bytes);

    const unknown = await f.decisionFor(f.hub, f.hub.paymentStatus("h1-no-such-payment").bytes);
    const foreign = await f.decisionFor(f.hub, f.hub.paymentStatus(theirs.body.requestId).bytes);

    expect([unknown.code, foreign.code]).toEqual([ErrorCode.UnknownPayment, ErrorCode.UnknownPayment]);
  });

  it("finds a tag offer a wallet paid while the hub was restarting, by its offerId", async () => {
    const offer = f.hub.tagOffer(800, "EUR");
    await f.send("wallet", "w1", f.wallet.tagPayment(offer.bytes).bytes);
    const unpaidOffer = f.hub.tagOffer(900, "EUR");

    const paid = await f.decisionFor(f.hub, f.hub.paymentStatus(offer.body.offerId).bytes);
    const unpaid = await f.decisionFor(f.hub, f.hub.paymentStatus(unpaidOffer.body.offerId).bytes);

    expect(paid).toMatchObject({ status: "approved", receipt: { amountMinor: 800, merchantId: "m1" } });
    expect(unpaid.code).toBe(ErrorCode.UnknownPayment);
    expect(f.service.verifyEvidence().problems).toEqual([]);
  });

  it("answers for offline captures: a settled one is captured, a declined one is unknown", async () => {
    const settled = f.hub.offlineCapture(f.wallet, 500, floor, { capturedAt: f.clock.nowMs() - hourMs });
    const declined = f.hub.offlineCapture(f.wallet, floor.saleMaxMinor + 1, floor);
    await f.decisionFor(f.hub, settled.bytes);
    await f.decisionFor(f.hub, declined.bytes);

    const captured = await f.decisionFor(f.hub, f.hub.paymentStatus(settled.body.requestId).bytes);
    const lost = await f.decisionFor(f.hub, f.hub.paymentStatus(declined.body.requestId).bytes);

    expect(captured).toMatchObject({ status: "approved", receipt: { amountMinor: 500 } });
    expect(lost.code).toBe(ErrorCode.UnknownPayment);
  });
});
