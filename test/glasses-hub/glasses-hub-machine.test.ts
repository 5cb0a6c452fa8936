import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { speech } from "../../device/glasses/speech.ts";
import { nikeAir, offerAndSay, pairing, startHub, timing } from "./fakes.ts";

describe("glasses hub: paying", () => {
  it("pays for the product after 'I'll take it' and a verified biometric, with the assertion in the credential", async () => {
    const hub = startHub();
    await offerAndSay(hub, "I'll take it", "en");
    const outcome = await hub.concluded();

    expect(outcome).toMatchObject({ kind: "approved", code: 0 });
    expect(hub.settlement.sent).toHaveLength(1);
    const { body, requestId } = hub.settlement.sent[0]!;
    expect(outcome.paymentRequestId).toBe(requestId);
    expect(body).toMatchObject({
      type: "payment_request",
      hubId: hub.hubId,
      merchantId: "merchant-1",
      requestId,
      seq: 1,
      amountMinor: 8900,
      currency: "EUR",
      mode: "glasses",
      payer: { kind: "glasses", walletId: "wallet-1", glassesId: "glasses-1" },
      context: { productId: "sku-nike-air", quantity: "1", utterance: "I'll take it", lang: "en" },
    });
    expect((body["exp"] as number) - (body["iat"] as number)).toBe(hub.config.requestTtlMs);
    const assertion = (body["payer"] as { assertion: Uint8Array }).assertion;
    expect(hub.glasses.challenges).toHaveLength(1);
    expect(hub.glasses.challenges[0]).toHaveLength(32);
    expect(assertion.length).toBeGreaterThan(0);
    expect(hub.glasses.cards[0]).toMatchObject({ kind: "offer", offer: { amountMinor: 8900, quantity: 1 } });
    await hub.until((s) => s.matches("showingResult"));
    expect(hub.glasses.lastSaid()?.text).toBe(speech.en.outcome("approved", hub.glasses.cards[0]!.offer, 10));
  });

  it("shows the offer in the owner's language and answers in the language the customer spoke", async () => {
    const hub = startHub({ pairing: { ...pairing, lang: "fr" } });
    await offerAndSay(hub, "我要这个", "zh");
    await hub.concluded();
    await hub.until((s) => s.matches("showingResult"));

    expect(hub.glasses.said[0]!.lang).toBe("fr");
    expect(hub.glasses.said[0]!.text).toContain("89.00 EUR");
    expect(hub.glasses.lastSaid()).toEqual({ lang: "zh", text: speech.zh.outcome("approved", hub.glasses.cards[0]!.offer, 10) });
  });

  it("asks again once after an unclear answer, then pays on a clear one", async () => {
    const hub = startHub();
    await offerAndSay(hub, "hmm maybe", "en");
    await hub.until((s) => s.matches({ purchase: { offer: "listening" } }) && s.context.unclearCount === 1);
    hub.glasses.hear("oui je le prends", "fr");

    expect(await hub.concluded()).toMatchObject({ kind: "approved" });
    expect(hub.glasses.said.some((s) => s.text === speech.en.reprompt())).toBe(true);
  });

  it("is ready for the next product after the result has been shown", async () => {
    const hub = startHub();
    await offerAndSay(hub, "yes", "en");
    await hub.concluded();
    await hub.until((s) => s.matches("showingResult"));
    hub.clock.advance(timing.resultDisplayMs);
    await hub.until((s) => s.matches("paired"));

    hub.glasses.see(nikeAir);
    await hub.listening();
    hub.glasses.hear("buy it", "en");
    await hub.until(() => hub.outcomes.length === 2);

    expect(hub.outcomes.map((o) => o.kind)).toEqual(["approved", "approved"]);
    expect(hub.settlement.sent.map((r) => r.body["seq"])).toEqual([1, 2]);
  });

  it("ignores a product it cannot offer (price not in integer minor units)", async () => {
    const hub = startHub();
    hub.glasses.see({ ...nikeAir, amountMinor: 89.5 });

    expect(hub.actor.getSnapshot().matches("paired")).toBe(true);
    expect(hub.glasses.cards).toHaveLength(0);
  });
});

describe("glasses hub: quantity", () => {
  it("'I'll take two' doubles the amount", async () => {
    const hub = startHub();
    await offerAndSay(hub, "I'll take two", "en");
    await hub.concluded();

    expect(hub.settlement.sent[0]!.body).toMatchObject({ amountMinor: 17_800, context: { quantity: "2", unitAmountMinor: "8900" } });
  });

  it("'deux' re-shows the doubled offer and waits for a confirmation before paying", async () => {
    const hub = startHub();
    await offerAndSay(hub, "deux", "fr");
    await hub.until((s) => s.matches({ purchase: { offer: "listening" } }) && s.context.quantity === 2);

    expect(hub.glasses.cards.at(-1)).toMatchObject({ kind: "offer", lang: "fr", offer: { quantity: 2, amountMinor: 17_800 } });
    expect(hub.settlement.sent).toHaveLength(0);
    hub.glasses.hear("oui", "fr");
    await hub.concluded();
    expect(hub.settlement.sent[0]!.body["amountMinor"]).toBe(17_800);
  });

  it("'两个' in Chinese then '好的' pays for two", async () => {
    const hub = startHub();
    await offerAndSay(hub, "两个", "zh");
    await hub.until((s) => s.matches({ purchase: { offer: "listening" } }) && s.context.quantity === 2);
    hub.glasses.hear("好的", "zh");
    await hub.concluded();

    expect(hub.settlement.sent[0]!.body["amountMinor"]).toBe(17_800);
  });

  it("refuses a quantity above quantityMax and never sends", async () => {
    const hub = startHub({ quantityMax: 3 });
    await offerAndSay(hub, "I'll take 5", "en");

    expect(await hub.concluded()).toMatchObject({ kind: "quantity_refused", code: ErrorCode.QuantityRefused });
    expect(hub.settlement.sent).toHaveLength(0);
    expect(hub.glasses.challenges).toHaveLength(0);
  });

  it("refuses a quantity whose total would exceed the amount limit", async () => {
    const hub = startHub({ quantityMax: 1000 });
    hub.glasses.see({ ...nikeAir, amountMinor: 900_000_000_000 });
    await hub.listening();
    hub.glasses.hear("I'll take two", "en");

    expect(await hub.concluded()).toMatchObject({ kind: "quantity_refused", code: ErrorCode.QuantityRefused });
    expect(hub.settlement.sent).toHaveLength(0);
  });
});

describe("glasses hub: never pays", () => {
  it.each([
    ["non", "fr"],
    ["cancel", "en"],
    ["算了", "zh"],
    ["non je ne le prends pas", "fr"],
    ["I don't want it", "en"],
  ] as const)("%s → cancelled, nothing sent, no biometric asked", async (text, lang) => {
    const hub = startHub();
    await offerAndSay(hub, text, lang);

    expect(await hub.concluded()).toMatchObject({ kind: "cancelled", code: ErrorCode.Cancelled });
    expect(hub.settlement.sent).toHaveLength(0);
    expect(hub.glasses.challenges).toHaveLength(0);
  });

  it("silence → intent timeout, nothing sent", async () => {
    const hub = startHub();
    hub.glasses.see(nikeAir);
    await hub.listening();
    hub.clock.advance(timing.intentTimeoutMs - 1);
    expect(hub.outcomes).toHaveLength(0);
    hub.clock.advance(1);

    expect(await hub.concluded()).toMatchObject({ kind: "silence", code: ErrorCode.IntentTimeout });
    expect(hub.settlement.sent).toHaveLength(0);
  });

  it("ambiguous answers beyond the retry → unclear, nothing sent", async () => {
    const hub = startHub({ unclearRetriesMax: 1 });
    await offerAndSay(hub, "yes no", "en");
    await hub.until((s) => s.matches({ purchase: { offer: "listening" } }) && s.context.unclearCount === 1);
    hub.glasses.hear("好的，不要", "zh");

    expect(await hub.concluded()).toMatchObject({ kind: "unclear", code: ErrorCode.IntentUnclear });
    expect(hub.settlement.sent).toHaveLength(0);
    expect(hub.glasses.challenges).toHaveLength(0);
  });

  it("a low-confidence transcript of 'I'll take it' is unclear, nothing sent", async () => {
    const hub = startHub({ unclearRetriesMax: 0 });
    await offerAndSay(hub, "I'll take it", "en", 0.2);

    expect(await hub.concluded()).toMatchObject({ kind: "unclear", code: ErrorCode.IntentUnclear });
    expect(hub.settlement.sent).toHaveLength(0);
  });

  it("an offer kept open by repeated quantity changes expires, nothing sent", async () => {
    const hub = startHub({ timing: { ...timing, offerTimeoutMs: 15_000 } });
    await offerAndSay(hub, "two", "en");
    await hub.until((s) => s.matches({ purchase: { offer: "listening" } }) && s.context.quantity === 2);
    hub.clock.advance(8_000);
    hub.glasses.hear("three", "en");
    await hub.until((s) => s.matches({ purchase: { offer: "listening" } }) && s.context.quantity === 3);
    hub.clock.advance(8_000);

    expect(await hub.concluded()).toMatchObject({ kind: "offer_expired", code: ErrorCode.OfferExpired });
    expect(hub.settlement.sent).toHaveLength(0);
  });

  it.each([
    ["user not verified", { userVerified: false }, "biometric_failed", ErrorCode.BiometricFailed],
    ["liveness false", { liveness: false }, "biometric_failed", ErrorCode.BiometricFailed],
    ["wearer declined on the glasses", "refuse", "biometric_failed", ErrorCode.BiometricFailed],
    ["someone else's voiceprint", { ownerId: "owner-2" }, "wrong_person", ErrorCode.OwnerMismatch],
    ["unpaired glasses", { glassesId: "glasses-9" }, "wrong_person", ErrorCode.GlassesNotPaired],
  ] as const)("%s → %s, nothing sent", async (_, behaviour, kind, code) => {
    const hub = startHub();
    hub.glasses.biometric = [behaviour];
    await offerAndSay(hub, "I'll take it", "en");

    expect(await hub.concluded()).toMatchObject({ kind, code });
    expect(hub.settlement.sent).toHaveLength(0);
  });

  it("an assertion over another challenge fails verification, nothing sent", async () => {
    const hub = startHub();
    const verify = hub.deps.verifier.verify.bind(hub.deps.verifier);
    hub.deps.verifier.verify = (assertion, challenge) => verify(assertion, new Uint8Array(challenge).map((b) => b ^ 1));
    await offerAndSay(hub, "yes", "en");

    expect(await hub.concluded()).toMatchObject({ kind: "biometric_failed", code: ErrorCode.BiometricFailed });
    expect(hub.settlement.sent).toHaveLength(0);
  });

  it("no biometric answer → biometric timeout, the request is aborted, nothing sent", async () => {
    const hub = startHub();
    hub.glasses.biometric = ["silent"];
    await offerAndSay(hub, "I'll take it", "en");
    await hub.until((s) => s.matches({ purchase: { biometric: "challenging" } }));
    hub.clock.advance(timing.biometricTimeoutMs);

    expect(await hub.concluded()).toMatchObject({ kind: "biometric_timeout", code: ErrorCode.BiometricTimeout });
    expect(hub.glasses.aborted[0]).toBe(true);
    expect(hub.settlement.sent).toHaveLength(0);
  });

  it("a glasses link failure while showing the offer → failed, nothing sent", async () => {
    const hub = startHub();
    hub.glasses.show = async () => {
      throw new Error("link lost");
    };
    hub.glasses.see(nikeAir);

    expect(await hub.concluded()).toMatchObject({ kind: "failed", code: ErrorCode.GlassesUnavailable });
    expect(hub.settlement.sent).toHaveLength(0);
  });
});
