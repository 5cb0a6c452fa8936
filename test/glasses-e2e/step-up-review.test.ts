import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { challengeShown, espresso, eventually, fundedMinor, ledgerSummary, nothingPaid, offerShown, outcomeNumber, reachState, startWorld, stopWorld, type GlassesWorld } from "./fixtures.ts";

let world: GlassesWorld | undefined;

afterEach(async () => {
  await stopWorld(world);
  world = undefined;
});

const pricey = { ...espresso, productId: "sku-grinder", name: "Grinder", amountMinor: 4_500 };
const stepUpAbove = { review: { hubStepUpAboveMinor: 1_000 } };
const reviewAbove = { review: { humanReviewAboveMinor: 1_000 } };

/** Confirms by voice and biometric, then waits for the bank's step-up challenge (a second biometric request). */
async function confirmUntilStepUp(current: GlassesWorld): Promise<{ first: Uint8Array; stepUp: Uint8Array }> {
  await offerShown(current, pricey);
  current.hub.glasses.say("I'll take it", "en");
  await challengeShown(current);
  const first = current.hub.glasses.lastChallenge!;
  current.hub.glasses.answerBiometric();
  await eventually(() => current.hub.glasses.lastChallenge !== first, 3_000, "step-up challenge");
  return { first, stepUp: current.hub.glasses.lastChallenge! };
}

describe("step-up at a glasses hub, through real settlement", () => {
  it("approved: the bank asks again, a fresh voiceprint confirms, and the held payment is posted once", async () => {
    world = await startWorld({ settlement: stepUpAbove });
    const { stepUp: stepUpChallenge } = await confirmUntilStepUp(world);
    world.hub.glasses.answerBiometric(stepUpChallenge);

    const outcome = await outcomeNumber(world, 1);
    expect(outcome).toMatchObject({ kind: "approved", code: 0 });
    await reachState(world, "paired");
    expect(world.outcomes).toHaveLength(1);
    expect(ledgerSummary(world)).toEqual({ payments: 1, walletMinor: fundedMinor - 4_500, merchantMinor: 4_500 });
  });

  it("denied: the wearer fails the step-up voiceprint; the held payment is voided and nothing is posted", async () => {
    world = await startWorld({ settlement: stepUpAbove });
    const { stepUp: stepUpChallenge } = await confirmUntilStepUp(world);
    world.hub.glasses.answerBiometric(stepUpChallenge, { userVerified: false });

    const outcome = await outcomeNumber(world, 1);
    expect(outcome).toMatchObject({ kind: "biometric_failed", code: ErrorCode.BiometricFailed });
    expect(outcome.paymentRequestId).toBeDefined();
    await reachState(world, "paired");
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("unanswered: no step-up biometric in time; the held payment is voided and nothing is posted", async () => {
    world = await startWorld({ settlement: stepUpAbove });
    await confirmUntilStepUp(world);

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "biometric_timeout" });
    await reachState(world, "paired");
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("replaying the first assertion as the step-up answer is refused: nothing is posted", async () => {
    world = await startWorld({ settlement: stepUpAbove });
    const { first } = await confirmUntilStepUp(world);
    world.hub.glasses.answerBiometric(first);

    expect((await outcomeNumber(world, 1)).kind).toBe("biometric_failed");
    await reachState(world, "paired");
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });
});

describe("operator review reaches the glasses hub as a late decision over MQTT", () => {
  async function inReview(current: GlassesWorld): Promise<string> {
    await offerShown(current, pricey);
    current.hub.glasses.autoAnswerBiometric = { userVerified: true, liveness: true, method: "voiceprint" };
    current.hub.glasses.say("I'll take it", "en");
    await reachState(current, "awaitingReview");
    const [review] = current.stack.node.service.listReviews({ status: "pending" });
    expect(review).toBeDefined();
    return review!.caseId;
  }

  it("the operator approves: the pushed decision concludes the purchase approved, posted once", async () => {
    world = await startWorld({ settlement: reviewAbove });
    const caseId = await inReview(world);
    world.stack.node.service.decideReview(caseId, "approve", "operator-1");

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "approved", code: 0 });
    expect(ledgerSummary(world)).toEqual({ payments: 1, walletMinor: fundedMinor - 4_500, merchantMinor: 4_500 });
  });

  it("the operator declines: the purchase ends declined and nothing is posted", async () => {
    world = await startWorld({ settlement: reviewAbove });
    const caseId = await inReview(world);
    world.stack.node.service.decideReview(caseId, "decline", "operator-1");

    const outcome = await outcomeNumber(world, 1);
    expect(outcome.kind).toBe("declined");
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("no operator in time: review_timeout, the held payment is voided, and a late approval posts nothing", async () => {
    world = await startWorld({ settlement: reviewAbove });
    const caseId = await inReview(world);

    expect(await outcomeNumber(world, 1, 4_000)).toMatchObject({ kind: "review_timeout", code: ErrorCode.ReviewTimeout });
    await reachState(world, "paired");
    world.stack.node.service.decideReview(caseId, "approve", "operator-1");

    expect(world.stack.node.service.findReview(caseId)?.status).toBe("declined");
    expect(world.outcomes).toHaveLength(1);
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });
});
