import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { SeededRandom, VirtualClock } from "../../core/sources.ts";
import { GlassesHubRuntime } from "../../device/glasses-hub-runtime.ts";
import type { PurchaseOutcome } from "../../device/glasses/outcome.ts";
import { TableIntentParser } from "../../device/intent/table-intent-parser.ts";
import { HubJournal } from "../../device/journal/hub-journal.ts";
import { defaultResendConfig } from "../../device/link/outbox-config.ts";
import { flush, signer } from "../device/fakes.ts";
import { AutoSettlement, FakeGlasses, FakeVerifier, hubId, merchantId, nikeAir, pairing, startHub, timing } from "./fakes.ts";

/** A purchase whose payment gets no decision in time: the machine concludes no_decision and journals a reversal. */
async function unansweredPurchase(reversalReply: AutoSettlement["answers"][number]) {
  const hub = startHub();
  hub.settlement.answers = ["silent", reversalReply];
  hub.glasses.see(nikeAir);
  await hub.listening();
  hub.glasses.hear("I'll take it", "en");
  await hub.until((s) => s.matches({ purchase: "submitting" }));
  hub.clock.advance(timing.decisionTimeoutMs);
  expect(await hub.concluded()).toMatchObject({ kind: "no_decision", code: ErrorCode.DecisionTimeout });
  await flush();
  const payment = hub.settlement.sentOfType("payment_request")[0]!;
  const saleId = hub.journal.findRequest(payment.requestId)!.saleId;
  return { hub, payment, saleId };
}

describe("glasses hub: reversals go through the outbox until the service decides them", () => {
  it("a reversal that gets no answer is resent, the same bytes, after the glasses stopped waiting", async () => {
    const { hub, payment, saleId } = await unansweredPurchase("silent");
    const [reversal] = hub.settlement.ofType("reversal");
    expect(reversal!.body).toMatchObject({ paymentRequestId: payment.requestId, reason: "timeout" });
    hub.clock.advance(timing.decisionTimeoutMs);
    await hub.until((s) => s.matches("showingResult"));

    hub.clock.advance(3 * defaultResendConfig.resendBackoffMaxMs);

    const sends = hub.settlement.sendsOf(String(reversal!.body["requestId"]));
    expect(sends.length).toBeGreaterThan(3);
    expect(sends.every((send) => send.bytes.equals(reversal!.bytes))).toBe(true);
    expect(hub.journal.sale(saleId)!.outcome).toBe("pending");
    hub.settlement.answer(sends.at(-1)!, "approved");
    expect(hub.journal.sale(saleId)!.outcome).toBe("reversed");
    expect(hub.journal.openRequests()).toHaveLength(0);
  });

  it("a reversal refused as not processed is sent again in a new envelope for the same payment", async () => {
    const { hub, payment, saleId } = await unansweredPurchase({ status: "declined", code: ErrorCode.SeqReplayed });
    hub.clock.advance(2 * defaultResendConfig.attemptTimeoutMs);
    await flush();

    const reversals = hub.settlement.sentOfType("reversal");
    expect(reversals).toHaveLength(2);
    expect(reversals.map((request) => request.body["paymentRequestId"])).toEqual([payment.requestId, payment.requestId]);
    expect(reversals[1]!.body["seq"]).toBeGreaterThan(reversals[0]!.body["seq"] as number);
    expect(hub.journal.sale(saleId)!.outcome).toBe("reversed");
  });
});

describe("glasses hub runtime: a late human-review decision", () => {
  /** A review outlasting a few held resends, as in production (review 120 s, held resend 30 s). */
  const reviewTiming = { ...timing, reviewTimeoutMs: 4 * defaultResendConfig.heldResendMs };

  function runtime() {
    const clock = new VirtualClock();
    const settlement = new AutoSettlement(clock);
    const glasses = new FakeGlasses();
    const journal = HubJournal.open({ path: ":memory:", clock });
    const crashes: unknown[] = [];
    const hub = new GlassesHubRuntime(
      { glasses, verifier: new FakeVerifier(), parser: new TableIntentParser(), settlement, signer, journal, clock, timers: clock, random: new SeededRandom(9) },
      { hubId, merchantId, timing: reviewTiming, onCrash: (error) => crashes.push(error) },
    );
    const outcomes: PurchaseOutcome[] = [];
    hub.onOutcome((outcome) => outcomes.push(outcome));
    hub.start(pairing);
    return { hub, clock, settlement, glasses, journal, outcomes, crashes };
  }

  async function heldForReview() {
    const rig = runtime();
    rig.settlement.answers = [{ status: "human_review", code: ErrorCode.IntentUnclear, caseId: "case-7" }];
    rig.glasses.see(nikeAir);
    await flush();
    rig.glasses.hear("I'll take it", "en");
    await flush();
    expect(rig.hub.state()).toEqual({ purchase: "awaitingReview" });
    const payment = rig.settlement.ofType("payment_request")[0]!;
    return { ...rig, payment, saleId: rig.journal.findRequest(String(payment.body["requestId"]))!.saleId };
  }

  it("the reviewer's approval, pushed to the hub, reaches the machine through outbox.onAnswer", async () => {
    const rig = await heldForReview();
    rig.clock.advance(reviewTiming.reviewTimeoutMs / 2);
    rig.settlement.answer(rig.payment, "approved", 0, { caseId: "case-7" });
    await flush();

    expect(rig.outcomes).toMatchObject([{ kind: "approved", code: 0, paymentRequestId: rig.payment.body["requestId"] }]);
    expect(rig.journal.sale(rig.saleId)!.outcome).toBe("approved");
    expect(rig.settlement.ofType("reversal")).toHaveLength(0);
    expect(rig.crashes).toHaveLength(0);
    rig.hub.close();
  });

  it("the reviewer's decline ends the purchase declined with the reviewer's code, and nothing is reversed", async () => {
    const rig = await heldForReview();
    rig.settlement.answer(rig.payment, "declined", ErrorCode.ReviewDeclined, { caseId: "case-7" });
    await flush();

    expect(rig.outcomes).toMatchObject([{ kind: "declined", code: ErrorCode.ReviewDeclined }]);
    expect(rig.journal.sale(rig.saleId)).toMatchObject({ outcome: "declined", code: ErrorCode.ReviewDeclined });
    expect(rig.settlement.ofType("reversal")).toHaveLength(0);
    rig.hub.close();
  });

  it("while held, the payment is asked about every heldResendMs, and a decision after the pairing changed still settles its sale", async () => {
    const rig = await heldForReview();
    rig.clock.advance(defaultResendConfig.heldResendMs);
    expect(rig.settlement.ofType("payment_request")).toHaveLength(2);
    rig.hub.restart({ ...pairing, ownerId: "owner-2" });

    rig.settlement.answer(rig.payment, "approved", 0, { caseId: "case-7" });
    await flush();

    expect(rig.outcomes).toHaveLength(0);
    expect(rig.journal.sale(rig.saleId)!.outcome).toBe("approved");
    rig.hub.close();
  });

  it("a review that never ends times out, and the payment is reversed through the outbox", async () => {
    const rig = await heldForReview();
    rig.clock.advance(reviewTiming.reviewTimeoutMs);
    await flush();

    expect(rig.outcomes).toMatchObject([{ kind: "review_timeout", code: ErrorCode.ReviewTimeout }]);
    const [reversal] = rig.settlement.ofType("reversal");
    expect(reversal!.body).toMatchObject({ paymentRequestId: rig.payment.body["requestId"] });
    rig.settlement.answer(rig.settlement.sendsOf(String(reversal!.body["requestId"])).at(-1)!, "approved");
    expect(rig.journal.sale(rig.saleId)!.outcome).toBe("reversed");
    rig.hub.close();
  });

  it("a restart for new glasses keeps outcome listeners, and the old glasses' assertion no longer pays", async () => {
    const rig = runtime();
    rig.hub.restart({ ...pairing, glassesId: "glasses-2" });
    rig.glasses.see(nikeAir);
    await flush();
    rig.glasses.hear("I'll take it", "en");
    await flush();

    expect(rig.outcomes).toMatchObject([{ kind: "wrong_person", code: ErrorCode.GlassesNotPaired }]);
    expect(rig.settlement.ofType("payment_request")).toEqual([]);
    rig.hub.close();
  });
});
