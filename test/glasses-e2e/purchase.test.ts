import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { challengeShown, espresso, fundedMinor, ledgerSummary, offerShown, outcomeNumber, payments, reachState, startWorld, stopWorld, type GlassesWorld } from "./fixtures.ts";

let world: GlassesWorld | undefined;

afterEach(async () => {
  await stopWorld(world);
  world = undefined;
});

describe("a glasses purchase paid through the real BLE stack, broker and ledger", () => {
  it("\"I'll take it\", a verified voiceprint, and the payment is posted once; the books balance", async () => {
    world = await startWorld();
    await offerShown(world);
    world.hub.glasses.say("I'll take it", "en");
    await challengeShown(world);
    world.hub.glasses.answerBiometric();

    const outcome = await outcomeNumber(world, 1);
    expect(outcome).toMatchObject({ kind: "approved", code: 0, decision: { status: "approved", hubId: "h1" } });
    expect(outcome.decision?.requestId).toBe(outcome.paymentRequestId);
    expect(outcome.decision?.receipt).toMatchObject({ amountMinor: 350, currency: "EUR", merchantId: "m1" });
    expect(ledgerSummary(world)).toEqual({ payments: 1, walletMinor: fundedMinor - 350, merchantMinor: 350 });
    expect(payments(world)[0]?.reference).toContain(outcome.paymentRequestId!);
  });

  it("\"je prends deux\" pays for two, in the language the person spoke", async () => {
    world = await startWorld();
    await offerShown(world);
    world.hub.glasses.autoAnswerBiometric = { userVerified: true, liveness: true, method: "iris" };
    world.hub.glasses.say("oui, j'en prends deux", "fr");

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "approved", code: 0 });
    expect(ledgerSummary(world)).toEqual({ payments: 1, walletMinor: fundedMinor - 700, merchantMinor: 700 });
    expect(world.hub.glasses.said.at(-1)?.lang).toBe("fr");
  });

  it("two purchases in a row each pay once, with increasing seq (no replay refusals)", async () => {
    world = await startWorld();
    world.hub.glasses.autoAnswerBiometric = { userVerified: true, liveness: true, method: "voiceprint" };
    for (let purchase = 1; purchase <= 2; purchase++) {
      await reachState(world, "paired");
      await offerShown(world, { ...espresso, productId: `sku-${purchase}` });
      world.hub.glasses.say("我要这个", "zh");
      expect(await outcomeNumber(world, purchase)).toMatchObject({ kind: "approved", code: 0 });
    }
    expect(ledgerSummary(world)).toEqual({ payments: 2, walletMinor: fundedMinor - 700, merchantMinor: 700 });
  });

  it("settlement declines a payment above the wallet's limit: the hub says so and nothing is posted", async () => {
    world = await startWorld();
    await offerShown(world, { ...espresso, amountMinor: 60_000 });
    world.hub.glasses.autoAnswerBiometric = { userVerified: true, liveness: true, method: "voiceprint" };
    world.hub.glasses.say("yes", "en");

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "declined", code: ErrorCode.LimitExceeded });
    expect(ledgerSummary(world)).toEqual({ payments: 0, walletMinor: fundedMinor, merchantMinor: 0 });
  });

  it("glasses the settlement service never bound to the wallet are declined there: nothing is posted", async () => {
    world = await startWorld({ enrolGlasses: false });
    const outcome = await world.hub.purchase({ product: espresso, answer: "I'll take it", lang: "en", timeoutMs: 3_000 });

    expect(outcome).toMatchObject({ kind: "declined", code: ErrorCode.PayerCredentialInvalid });
    expect(ledgerSummary(world)).toEqual({ payments: 0, walletMinor: fundedMinor, merchantMinor: 0 });
  });
});
