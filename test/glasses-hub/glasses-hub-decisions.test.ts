import { describe, expect, it } from "vitest";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { glassesHubConfig } from "../../device/glasses/config.ts";
import { speech } from "../../device/glasses/speech.ts";
import type { Lang } from "../../device/intent/intent.ts";
import { decisionFor, offerAndSay, pairing, startHub, timing } from "./fakes.ts";

describe("glasses hub: decisions", () => {
  it("speaks a decline in the customer's language with the service's code", async () => {
    const hub = startHub();
    hub.settlement.answers = [{ status: "declined", code: ErrorCode.InsufficientFunds }];
    await offerAndSay(hub, "je le prends", "fr");

    expect(await hub.concluded()).toMatchObject({ kind: "declined", code: ErrorCode.InsufficientFunds });
    await hub.until((s) => s.matches("showingResult"));
    expect(hub.glasses.lastSaid()).toEqual({ lang: "fr", text: speech.fr.outcome("declined", undefined, 10) });
    expect(hub.settlement.sent).toHaveLength(1);
  });

  it("step_up_required → a second biometric over a new challenge, then a signed approval", async () => {
    const hub = startHub();
    hub.settlement.answers = [{ status: "step_up_required", code: 0, caseId: "case-1" }, { status: "approved" }];
    await offerAndSay(hub, "I'll take it", "en");

    expect(await hub.concluded()).toMatchObject({ kind: "approved", code: 0 });
    expect(hub.glasses.challenges).toHaveLength(2);
    expect(Buffer.from(hub.glasses.challenges[0]!).equals(Buffer.from(hub.glasses.challenges[1]!))).toBe(false);
    const [payment, approval] = hub.settlement.sent;
    expect(approval!.body).toMatchObject({
      type: "step_up_approval",
      hubId: hub.hubId,
      paymentRequestId: payment!.requestId,
      caseId: "case-1",
      seq: 2,
      payer: { kind: "glasses", walletId: "wallet-1", glassesId: "glasses-1" },
    });
    expect(hub.glasses.said.some((s) => s.text === speech.en.stepUp())).toBe(true);
  });

  it("a failed step-up biometric sends no approval and reverses the held payment", async () => {
    const hub = startHub();
    hub.settlement.answers = [{ status: "step_up_required", caseId: "case-1" }];
    hub.glasses.biometric = ["answer", { liveness: false }];
    await offerAndSay(hub, "I'll take it", "en");

    expect(await hub.concluded()).toMatchObject({ kind: "biometric_failed", code: ErrorCode.BiometricFailed });
    await hub.until((s) => s.matches("showingResult"));
    expect(hub.settlement.sentOfType("step_up_approval")).toHaveLength(0);
    expect(hub.settlement.sentOfType("reversal")[0]!.body).toMatchObject({ paymentRequestId: hub.settlement.sent[0]!.requestId });
  });

  it("a second step_up_required beyond stepUpsMax → step_up_exhausted and a reversal", async () => {
    const hub = startHub({ stepUpsMax: 1 });
    hub.settlement.answers = [{ status: "step_up_required" }, { status: "step_up_required" }];
    await offerAndSay(hub, "I'll take it", "en");

    expect(await hub.concluded()).toMatchObject({ kind: "step_up_exhausted", code: ErrorCode.StepUpExhausted });
    await hub.until((s) => s.matches("showingResult"));
    expect(hub.settlement.sent.map((r) => r.body["type"])).toEqual(["payment_request", "step_up_approval", "reversal"]);
  });

  it("human_review → says so, waits, and concludes on the reviewer's decision", async () => {
    const hub = startHub();
    hub.settlement.answers = [{ status: "human_review", caseId: "case-7" }];
    await offerAndSay(hub, "I'll take it", "en");
    await hub.until((s) => s.matches({ purchase: "awaitingReview" }));
    await hub.until(() => hub.glasses.lastSaid()?.text === speech.en.review());
    const requestId = hub.settlement.sent[0]!.requestId;
    hub.actor.send({ type: "settlement.decision", decision: decisionFor("another-hub", requestId, "approved") });
    hub.actor.send({ type: "settlement.decision", decision: decisionFor(hub.hubId, requestId, "approved") });

    expect(await hub.concluded()).toMatchObject({ kind: "approved", code: 0, paymentRequestId: requestId });
  });

  it("human_review with no decision within reviewTimeout → review_timeout and a reversal", async () => {
    const hub = startHub();
    hub.settlement.answers = [{ status: "human_review", caseId: "case-7" }];
    await offerAndSay(hub, "I'll take it", "en");
    await hub.until((s) => s.matches({ purchase: "awaitingReview" }));
    hub.clock.advance(timing.reviewTimeoutMs);

    expect(await hub.concluded()).toMatchObject({ kind: "review_timeout", code: ErrorCode.ReviewTimeout });
    await hub.until((s) => s.matches("showingResult"));
    expect(hub.settlement.sentOfType("reversal")[0]!.body).toMatchObject({ reason: "timeout" });
  });

  it("no decision within decisionTimeout → no_decision and a reversal", async () => {
    const hub = startHub();
    hub.settlement.answers = ["silent"];
    await offerAndSay(hub, "I'll take it", "en");
    await hub.until((s) => s.matches({ purchase: "submitting" }));
    hub.clock.advance(timing.decisionTimeoutMs);

    expect(await hub.concluded()).toMatchObject({ kind: "no_decision", code: ErrorCode.DecisionTimeout });
    await hub.until((s) => s.matches("showingResult"));
    expect(hub.settlement.sentOfType("reversal")).toHaveLength(1);
  });

  it("a decision for another request or another hub is not taken as an answer: no_decision and a reversal", async () => {
    const hub = startHub();
    hub.settlement.answers = ["silent"];
    await offerAndSay(hub, "I'll take it", "en");
    await hub.until((s) => s.matches({ purchase: "submitting" }));
    const [payment] = hub.settlement.published;
    hub.settlement.answer(payment!, "approved", 0, { requestId: "someone-else" });
    hub.settlement.answer(payment!, "approved", 0, { hubId: "another-hub" });
    hub.settlement.answer(payment!, "approved", 0, { requestHash: new Uint8Array(32).fill(1) });
    hub.clock.advance(timing.decisionTimeoutMs);

    expect(await hub.concluded()).toMatchObject({ kind: "no_decision", code: ErrorCode.DecisionTimeout });
    await hub.until((s) => s.matches("showingResult") || s.matches("reversing"));
    expect(hub.settlement.sentOfType("reversal")).toHaveLength(1);
  });
});

describe("glasses hub: configuration", () => {
  it.each([
    [{ timing: { ...timing, intentTimeoutMs: 0 } }],
    [{ quantityMax: 0 }],
    [{ hubId: "hub/with/slashes" }],
    [{ pairing: { ...pairing, lang: "de" as Lang } }],
  ])("rejects %j with ConfigInvalid", (options) => {
    let caught: unknown;
    try {
      glassesHubConfig({ hubId: "hub-1", pairing, ...options });
    } catch (error) {
      caught = error;
    }
    expect(isTapwireError(caught, ErrorCode.ConfigInvalid)).toBe(true);
  });

  it("stops the glasses subscription when the hub stops", () => {
    const hub = startHub();
    expect(hub.glasses.subscribed).toBe(true);
    hub.actor.stop();
    expect(hub.glasses.subscribed).toBe(false);
  });
});
