import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import type { SettlementFixture } from "./fixtures.ts";
import { approvedPayment, freshFixtureEachTest } from "./preamble.ts";

let f: SettlementFixture;
freshFixtureEachTest((created) => (f = created));

const paid = (amountMinor: number) => approvedPayment(f, amountMinor);

const walletBalance = () => f.service.ledger.balanceOf(walletAccountId("w1"));

describe("refunds", () => {
  it("allows partial refunds up to the captured amount and refuses more", async () => {
    const paymentId = await paid(1_000);

    const first = await f.decisionFor(f.hub, f.hub.refund(paymentId, 400, "EUR").bytes);
    const tooMuch = await f.decisionFor(f.hub, f.hub.refund(paymentId, 700, "EUR").bytes);
    const rest = await f.decisionFor(f.hub, f.hub.refund(paymentId, 600, "EUR").bytes);

    expect(first).toMatchObject({ status: "approved", receipt: { amountMinor: 400 } });
    expect(tooMuch).toMatchObject({ status: "declined", code: ErrorCode.RefundExceedsCaptured });
    expect(rest.status).toBe("approved");
    expect(walletBalance()).toBe(10_000);
    expect(f.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(0);
    expect(f.service.findPayment("h1", paymentId)?.refundedMinor).toBe(1_000);
    f.service.ledger.checkInvariants();
  });

  it("treats a duplicate refund as the same request: same bytes, one transfer", async () => {
    const paymentId = await paid(1_000);
    const refund = f.hub.refund(paymentId, 250, "EUR");
    const first = await f.fromHub(f.hub, refund.bytes);
    const transfers = f.service.ledger.transferCount();

    const duplicates = await Promise.all([f.fromHub(f.hub, refund.bytes), f.fromHub(f.hub, refund.bytes)]);

    for (const d of duplicates) expect(d[0]!.payload.equals(first[0]!.payload)).toBe(true);
    expect(f.service.ledger.transferCount()).toBe(transfers);
    expect(walletBalance()).toBe(9_250);
  });

  it("refuses refunds of unknown payments, other merchants' payments and in another currency", async () => {
    const paymentId = await paid(1_000);
    f.service.registry.enrollMerchant({ merchantId: "m2", currency: "EUR" });
    const otherShop = f.enrollHub("h-m2", "m2");

    const unknown = await f.decisionFor(f.hub, f.hub.refund("no-such-payment", 100, "EUR").bytes);
    const foreign = await f.decisionFor(otherShop, otherShop.refund(paymentId, 100, "EUR").bytes);
    const dollars = await f.decisionFor(f.hub, f.hub.refund(paymentId, 100, "USD").bytes);

    expect([unknown.code, foreign.code, dollars.code]).toEqual([ErrorCode.UnknownPayment, ErrorCode.UnknownPayment, ErrorCode.CurrencyMismatch]);
    expect(walletBalance()).toBe(9_000);
  });

  it("lets another hub of the same merchant refund the payment", async () => {
    const paymentId = await paid(1_000);
    const counter2 = f.enrollHub("h2", "m1");

    expect((await f.decisionFor(counter2, counter2.refund(paymentId, 1_000, "EUR").bytes)).status).toBe("approved");
    expect(walletBalance()).toBe(10_000);
  });
});

describe("reversals", () => {
  it("reverses a captured payment in full, once", async () => {
    const paymentId = await paid(500);

    const reversal = await f.decisionFor(f.hub, f.hub.reversal(paymentId).bytes);
    const again = await f.decisionFor(f.hub, f.hub.reversal(paymentId).bytes);
    const refundAfter = await f.decisionFor(f.hub, f.hub.refund(paymentId, 100, "EUR").bytes);

    expect(reversal).toMatchObject({ status: "approved", receipt: { amountMinor: 500 } });
    expect(again.code).toBe(ErrorCode.AlreadyReversed);
    expect(refundAfter.code).toBe(ErrorCode.AlreadyReversed);
    expect(walletBalance()).toBe(10_000);
    expect(f.service.findPayment("h1", paymentId)?.status).toBe("reversed");
    f.service.ledger.checkInvariants();
  });

  it("reverses only what a partial refund left", async () => {
    const paymentId = await paid(1_000);
    await f.decisionFor(f.hub, f.hub.refund(paymentId, 300, "EUR").bytes);

    const reversal = await f.decisionFor(f.hub, f.hub.reversal(paymentId).bytes);

    expect(reversal.receipt?.amountMinor).toBe(700);
    expect(walletBalance()).toBe(10_000);
  });

  it("voids a payment that has not arrived yet, so it can never be charged", async () => {
    const delayed = f.hub.paymentRequest(f.wallet, 400);
    const transfers = f.service.ledger.transferCount();

    const reversal = await f.decisionFor(f.hub, f.hub.reversal(delayed.body.requestId).bytes);
    const secondReversal = await f.decisionFor(f.hub, f.hub.reversal(delayed.body.requestId).bytes);
    f.clock.advance(5_000);
    const resealed = f.hub.paymentRequest(f.wallet, 400, { requestId: delayed.body.requestId });
    const arrival = await f.fromHub(f.hub, resealed.bytes);
    const retry = await f.fromHub(f.hub, resealed.bytes);
    const original = await f.decisionFor(f.hub, delayed.bytes);

    expect(reversal).toMatchObject({ status: "approved", code: 0 });
    expect(reversal.receipt).toBeUndefined();
    expect(secondReversal.code).toBe(ErrorCode.AlreadyReversed);
    expect(f.open(arrival[0]!.payload)).toMatchObject({ status: "declined", code: ErrorCode.Cancelled });
    expect(retry[0]!.payload.equals(arrival[0]!.payload)).toBe(true);
    // The first signing of that payment differs from the stored one under its id: refused, still not charged.
    expect(original.code).toBe(ErrorCode.RequestIdReused);
    expect(f.service.ledger.transferCount()).toBe(transfers);
    expect(walletBalance()).toBe(10_000);
  });
});
