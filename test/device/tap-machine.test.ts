import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { defaultTapTiming } from "../../device/tap/tap-config.ts";
import { flush } from "./fakes.ts";
import { TapRig } from "./tap-fakes.ts";

const { decisionTimeoutMs, resultDisplayMs, tapTimeoutMs } = defaultTapTiming;

/** A reader sale up to its payment being sent: the phone tapped, the payment journaled and published. */
async function tapped(rig = new TapRig()) {
  rig.setAmount(1_250);
  rig.reader.tap();
  await flush();
  const payment = rig.settlement.ofType("payment_request").at(-1)!;
  return { rig, payment, saleId: rig.journal.findRequest(String(payment.body["requestId"]))!.saleId };
}

describe("tap machine: reader sales", () => {
  it("approved: the payment is journaled before it leaves, the panel shows approved, then idle", async () => {
    const rig = new TapRig();
    rig.setAmount(1_250);
    expect(rig.view.state).toBe("waitingForTap");
    expect(rig.indicator.last).toBe("waiting");
    expect(rig.reader.reads[0]!.input).toMatchObject({ amountMinor: 1_250, currency: "EUR" });
    const { payment, saleId } = await tapped(rig).then(async (sale) => sale);

    expect(rig.view.state).toBe("authorizing");
    expect(rig.indicator.last).toBe("authorizing");
    expect(payment.body).toMatchObject({ type: "payment_request", amountMinor: 1_250, mode: "reader", seq: 1 });
    rig.settlement.answer(payment, "approved");
    await flush();

    expect(rig.view).toMatchObject({ state: "approved", lastDecisionCode: 0 });
    expect(rig.indicator.last).toBe("approved");
    expect(rig.indicator.beeps).toEqual(["approved"]);
    expect(rig.journal.sale(saleId)!.outcome).toBe("approved");
    rig.clock.advance(resultDisplayMs);
    expect(rig.view.state).toBe("idle");
    expect(rig.indicator.last).toBe("idle");
  });

  it("declined: the service's code is shown and nothing is reversed", async () => {
    const { rig, payment, saleId } = await tapped();
    rig.settlement.answer(payment, "declined", ErrorCode.InsufficientFunds);
    await flush();

    expect(rig.view).toMatchObject({ state: "declined", lastDecisionCode: ErrorCode.InsufficientFunds });
    expect(rig.indicator.beeps).toEqual(["declined"]);
    expect(rig.journal.sale(saleId)!.outcome).toBe("declined");
    expect(rig.settlement.ofType("reversal")).toHaveLength(0);
  });

  it("held for review, then approved: the machine waits quietly for the final decision", async () => {
    const { rig, payment, saleId } = await tapped();
    let snapshots = 0;
    const subscription = rig.actor.subscribe(() => {
      snapshots += 1;
      // A machine that spins on the held answer never yields; stop it so the test fails instead of hanging.
      if (snapshots > 1_000) rig.actor.stop();
    });
    rig.settlement.answer(payment, "human_review", ErrorCode.IntentUnclear, { caseId: "case-1" });
    await flush();

    expect(snapshots).toBeLessThan(10);
    expect(rig.actor.getSnapshot().matches({ authorizing: "awaiting" })).toBe(true);
    rig.clock.advance(decisionTimeoutMs / 2);
    rig.settlement.answer(payment, "approved");
    await flush();
    subscription.unsubscribe();

    expect(rig.view.state).toBe("approved");
    expect(rig.journal.sale(saleId)!.outcome).toBe("approved");
  });

  it("no decision within decisionTimeoutMs: the reversal is journaled and sent, the panel says timed out", async () => {
    const { rig, payment, saleId } = await tapped();
    rig.clock.advance(decisionTimeoutMs);
    await flush();

    expect(rig.view).toMatchObject({ state: "reversing", lastDecisionCode: ErrorCode.DecisionTimeout, reversal: { status: "pending", reason: "timeout" } });
    const reversal = rig.journal.requestsOf(saleId).find((request) => request.kind === "reversal")!;
    expect(reversal).toMatchObject({ state: "open", targetRequestId: payment.body["requestId"], reason: "timeout" });
    rig.settlement.answer(rig.settlement.ofType("reversal")[0]!, "approved");
    await flush();

    expect(rig.view).toMatchObject({ state: "timedOut", reversal: { status: "reversed" } });
    expect(rig.indicator.last).toBe("error");
    expect(rig.journal.sale(saleId)!.outcome).toBe("reversed");
  });

  it("a reversal not decided within the wait: the panel moves on, the outbox goes on resending it", async () => {
    const { rig, saleId } = await tapped();
    rig.clock.advance(decisionTimeoutMs);
    await flush();
    rig.clock.advance(decisionTimeoutMs);
    await flush();

    expect(rig.view).toMatchObject({ state: "timedOut", reversal: { status: "pending" } });
    expect(rig.journal.sale(saleId)!.outcome).toBe("pending");
    const reversal = rig.settlement.ofType("reversal")[0]!;
    rig.clock.advance(60_000);
    expect(rig.settlement.sendsOf(String(reversal.body["requestId"])).length).toBeGreaterThan(2);
  });
});

describe("tap machine: cancel", () => {
  it("while waiting for a tap: the read is aborted and nothing is journaled or sent", async () => {
    const rig = new TapRig();
    rig.setAmount(900);
    rig.indicator.pressCancel();
    await flush();

    expect(rig.view).toMatchObject({ state: "cancelled", lastDecisionCode: ErrorCode.Cancelled });
    expect(rig.reader.reads[0]!.input.signal.aborted).toBe(true);
    expect(rig.journal.lastSale()).toBeUndefined();
    expect(rig.settlement.published).toHaveLength(0);
  });

  it("no tap within tapTimeoutMs: timed out, nothing journaled", async () => {
    const rig = new TapRig();
    rig.setAmount(900);
    rig.clock.advance(tapTimeoutMs);
    await flush();

    expect(rig.view).toMatchObject({ state: "timedOut", lastDecisionCode: ErrorCode.TapTimeout });
    expect(rig.journal.lastSale()).toBeUndefined();
  });

  it("while authorizing: the payment is reversed before the panel says cancelled", async () => {
    const { rig, payment, saleId } = await tapped();
    rig.indicator.pressCancel();
    await flush();
    expect(rig.view.state).toBe("reversing");
    const [reversal] = rig.settlement.ofType("reversal");
    expect(reversal!.body).toMatchObject({ paymentRequestId: payment.body["requestId"], reason: "cancelled" });

    rig.settlement.answer(reversal!, "approved");
    await flush();

    expect(rig.view).toMatchObject({ state: "cancelled", reversal: { status: "reversed" } });
    expect(rig.journal.sale(saleId)!.outcome).toBe("reversed");
  });

  it("while a tag offer is presented: the offer is voided with a reversal", async () => {
    const rig = new TapRig();
    rig.setAmount(700, "tag");
    await flush();
    const offer = rig.reader.offers[0]!;
    const offerId = rig.journal.lastSale()!.paymentRequestId;
    rig.indicator.pressCancel();
    await flush();

    expect(offer.input.signal.aborted).toBe(true);
    const [reversal] = rig.settlement.ofType("reversal");
    expect(reversal!.body).toMatchObject({ paymentRequestId: offerId, reason: "cancelled" });
    rig.settlement.answer(reversal!, "approved");
    await flush();
    expect(rig.view.state).toBe("cancelled");
    expect(rig.journal.lastSale()!.outcome).toBe("reversed");
  });
});

describe("tap machine: refusals and the resting panel", () => {
  it("refuses a new amount with BusyAlready while a sale or its reversal runs", async () => {
    const { rig } = await tapped();
    rig.setAmount(100);
    expect(rig.view.refusal?.code).toBe(ErrorCode.BusyAlready);
    rig.indicator.pressCancel();
    await flush();
    expect(rig.view.state).toBe("reversing");

    rig.setAmount(200);

    expect(rig.view.refusal?.code).toBe(ErrorCode.BusyAlready);
    expect(rig.reader.reads).toHaveLength(1);
  });

  it("with the reader gone: shows readerGone and refuses amounts with ReaderGone until it is back", () => {
    const rig = new TapRig();
    rig.reader.setPresent(false);
    expect(rig.indicator.last).toBe("readerGone");
    rig.setAmount(500);
    expect(rig.view).toMatchObject({ state: "idle", readerPresent: false, refusal: { code: ErrorCode.ReaderGone } });

    rig.reader.setPresent(true);
    expect(rig.indicator.last).toBe("idle");
    rig.setAmount(500);
    expect(rig.view.state).toBe("waitingForTap");
  });

  it("shows clockWrong while idle once the clock watch says so, and idle once it agrees again", async () => {
    const { rig, payment } = await tapped();
    rig.settlement.answer(payment, "approved", 0, { iat: rig.clock.nowMs() + 120_000 });
    await flush();
    rig.clock.advance(resultDisplayMs);

    expect(rig.view).toMatchObject({ state: "idle", clockWrong: true });
    expect(rig.indicator.last).toBe("clockWrong");
    const next = await tapped(rig);
    rig.settlement.answer(next.payment, "approved");
    await flush();
    rig.clock.advance(resultDisplayMs);
    expect(rig.indicator.last).toBe("idle");
  });

  it.each([
    [0, ErrorCode.InvalidMoney],
    [1.5, ErrorCode.InvalidMoney],
  ])("refuses amount %d with %i", (amountMinor, code) => {
    const rig = new TapRig();
    rig.setAmount(amountMinor);
    expect(rig.view).toMatchObject({ state: "idle", refusal: { code } });
  });
});
