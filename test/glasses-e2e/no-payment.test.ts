import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { challengeShown, espresso, eventually, ledgerSummary, nothingPaid, offerShown, outcomeNumber, reachState, startWorld, stopWorld, type GlassesWorld } from "./fixtures.ts";

let world: GlassesWorld | undefined;

/** Says `text` and waits until the hub has spoken its reprompt and listens again. */
async function sayThenReprompted(current: GlassesWorld, text: string, confidence?: number): Promise<void> {
  const saidBefore = current.hub.glasses.said.length;
  current.hub.glasses.say(text, "en", confidence);
  await eventually(() => current.hub.glasses.said.length > saidBefore, 3_000, "reprompt");
  await reachState(current, "listening");
}

afterEach(async () => {
  await stopWorld(world);
  world = undefined;
});

describe("glasses purchases that must never pay, through the real BLE stack, broker and ledger", () => {
  it.each([
    ["non", "fr"],
    ["cancel", "en"],
    ["算了", "zh"],
  ] as const)("a spoken refusal (%s) ends cancelled with no biometric request and nothing posted", async (text, lang) => {
    world = await startWorld();
    await offerShown(world);
    world.hub.glasses.say(text, lang);

    const outcome = await outcomeNumber(world, 1);
    expect(outcome).toMatchObject({ kind: "cancelled", code: ErrorCode.Cancelled });
    expect(outcome.paymentRequestId).toBeUndefined();
    expect(world.hub.glasses.lastChallenge).toBeUndefined();
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("silence after the offer ends as silence and nothing is posted", async () => {
    world = await startWorld();
    await offerShown(world);

    const outcome = await outcomeNumber(world, 1);
    expect(outcome).toMatchObject({ kind: "silence", code: ErrorCode.IntentTimeout });
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("an ambiguous answer is asked again once, then ends unclear without paying", async () => {
    world = await startWorld();
    await offerShown(world);
    await sayThenReprompted(world, "maybe");
    world.hub.glasses.say("yes no", "en");

    const outcome = await outcomeNumber(world, 1);
    expect(outcome).toMatchObject({ kind: "unclear", code: ErrorCode.IntentUnclear });
    expect(world.hub.glasses.lastChallenge).toBeUndefined();
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("a transcript the recogniser is unsure of is never taken as a yes", async () => {
    world = await startWorld();
    await offerShown(world);
    await sayThenReprompted(world, "I'll take it", 0.3);
    world.hub.glasses.say("I'll take it", "en", 0.2);

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "unclear", code: ErrorCode.IntentUnclear });
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it.each([
    ["the voiceprint does not match", { userVerified: false }],
    ["the liveness check fails", { liveness: false }],
  ] as const)("a confirmed purchase where %s ends biometric_failed and nothing is posted", async (_, answer) => {
    world = await startWorld();
    await offerShown(world);
    world.hub.glasses.autoAnswerBiometric = { userVerified: true, liveness: true, method: "voiceprint", ...answer };
    world.hub.glasses.say("I'll take it", "en");

    const outcome = await outcomeNumber(world, 1);
    expect(outcome).toMatchObject({ kind: "biometric_failed", code: ErrorCode.BiometricFailed });
    expect(outcome.paymentRequestId).toBeUndefined();
    expect(world.hub.glasses.lastChallenge).toBeDefined();
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("no answer to the biometric challenge ends biometric_timeout and nothing is posted", async () => {
    world = await startWorld();
    await offerShown(world);
    world.hub.glasses.say("je le prends", "fr");

    const outcome = await outcomeNumber(world, 1);
    expect(outcome).toMatchObject({ kind: "biometric_timeout", code: ErrorCode.BiometricTimeout });
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("an assertion answering an older challenge is refused: nothing is posted", async () => {
    world = await startWorld();
    await offerShown(world);
    world.hub.glasses.say("I'll take it", "en");
    await challengeShown(world);
    world.hub.glasses.answerBiometric(new Uint8Array(32).fill(7));

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "biometric_failed", code: ErrorCode.BiometricFailed });
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("glasses paired to another owner end wrong_person even with a perfect biometric, and nothing is posted", async () => {
    world = await startWorld({ glasses: { ownerId: "owner-2" } });
    await offerShown(world);
    world.hub.glasses.autoAnswerBiometric = { userVerified: true, liveness: true, method: "iris" };
    world.hub.glasses.say("我要这个", "zh");

    const outcome = await outcomeNumber(world, 1);
    expect(outcome).toMatchObject({ kind: "wrong_person", code: ErrorCode.OwnerMismatch });
    expect(outcome.paymentRequestId).toBeUndefined();
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("the offer the glasses display carries the price and the hub's words", async () => {
    world = await startWorld();
    await offerShown(world);
    const shown = world.hub.glasses.shown[0];
    expect(shown).toMatchObject({ merchantId: espresso.merchantId, amountMinor: 350, currency: "EUR", lang: "en" });
    expect(shown?.offerId).toMatch(/^offer-[0-9a-f]{32}$/);
    expect(world.hub.glasses.said.length).toBeGreaterThan(0);
  });
});

describe("SimulatedGlassesHub.purchase scripts a whole purchase in one call", () => {
  it("a scripted refusal in Chinese concludes cancelled and pays nothing", async () => {
    world = await startWorld();
    const outcome = await world.hub.purchase({ product: espresso, answer: "算了", lang: "zh", timeoutMs: 3_000 });
    expect(outcome).toMatchObject({ kind: "cancelled", code: ErrorCode.Cancelled });
    await eventually(() => world!.hub.glasses.said.at(-1)?.lang === "zh", 2_000, "result said in Chinese");
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });
});
