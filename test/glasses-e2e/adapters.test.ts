import { EventEmitter } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { PairedGlassesVerifier } from "../../device/glasses/biometric-verifier.ts";
import type { GlassesCard, GlassesEvent } from "../../device/glasses/ports.ts";
import { LinkBiometricVerifier } from "../../firmware-bridge/adapters/glasses-biometric-verifier.ts";
import { GlassesLinkPort, offerIdFor, type GlassesLinkSurface } from "../../firmware-bridge/adapters/glasses-port.ts";
import type { GlassesInbound } from "../../firmware-bridge/ble/glasses-link-options.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { verifyBiometricAssertion } from "../../protocol/glasses.ts";
import { makeWorld, startPaired, type World } from "../ble/fixtures.ts";
import { codeOf } from "./fixtures.ts";

const challenge = new Uint8Array(32).fill(3);

describe("biometric assertions made by VirtualGlasses are accepted by every verifier the hub can use", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.link.stop();
    world = undefined;
  });

  it("PairedGlassesVerifier (device), verifyBiometricAssertion (protocol) and LinkBiometricVerifier (link) agree", async () => {
    world = makeWorld({}, { glassesId: "glasses-x", ownerId: "owner-9" });
    await startPaired(world);
    const assertion = world.glasses.signAssertion(challenge);

    const paired = new PairedGlassesVerifier({ glassesId: "glasses-x", publicKey: world.glasses.publicKey });
    expect(paired.verify(assertion, challenge)).toEqual({ glassesId: "glasses-x", ownerId: "owner-9" });
    const claim = verifyBiometricAssertion(assertion, {
      publicKey: world.glasses.publicKey,
      glassesId: "glasses-x",
      ownerId: "owner-9",
      challenge,
      nowMs: Date.now(),
      ageMsMax: 60_000,
    });
    expect(claim).toMatchObject({ userVerified: true, liveness: true, method: "voiceprint" });
    expect(new LinkBiometricVerifier(world.link).verify(assertion, challenge)).toEqual({ glassesId: "glasses-x", ownerId: "owner-9" });
  });

  it("both hub-side verifiers refuse the same bad assertions with the port's codes", async () => {
    world = makeWorld({}, { glassesId: "glasses-x", ownerId: "owner-9" });
    await startPaired(world);
    const paired = new PairedGlassesVerifier({ glassesId: "glasses-x", publicKey: world.glasses.publicKey });
    const linked = new LinkBiometricVerifier(world.link);
    const impostor = impostorAssertion();
    const cases: Array<[string, Uint8Array, Uint8Array, number]> = [
      ["not verified", world.glasses.signAssertion(challenge, { userVerified: false }), challenge, ErrorCode.BiometricFailed],
      ["not live", world.glasses.signAssertion(challenge, { liveness: false }), challenge, ErrorCode.BiometricFailed],
      ["another challenge", world.glasses.signAssertion(new Uint8Array(32).fill(4)), challenge, ErrorCode.BiometricFailed],
      ["other glasses' key", impostor, challenge, ErrorCode.BiometricFailed],
    ];
    for (const [, assertion, asked, code] of cases) {
      expect(codeOf(() => paired.verify(assertion, asked))).toBe(code);
      expect(codeOf(() => linked.verify(assertion, asked))).toBe(code);
    }
  });

  it("LinkBiometricVerifier answers GlassesNotPaired when nothing is paired", () => {
    world = makeWorld();
    expect(codeOf(() => new LinkBiometricVerifier(world!.link).verify(challenge, challenge))).toBe(ErrorCode.GlassesNotPaired);
  });
});

/** An assertion signed by glasses with the same id but a key the hub never paired. */
function impostorAssertion(): Uint8Array {
  const other = makeWorld({}, { glassesId: "glasses-x", ownerId: "owner-9" });
  return other.glasses.signAssertion(challenge);
}

/** Records what the port asks of the link; cast to GlassesLinkSurface where the port takes it. */
class FakeLink extends EventEmitter {
  readonly offers: unknown[] = [];
  readonly said: Array<[string, string]> = [];
  readonly asked: Array<{ timeoutMs: number }> = [];
  async showOffer(offer: never): Promise<void> {
    this.offers.push(offer);
  }
  async say(text: string, lang: string): Promise<void> {
    this.said.push([text, lang]);
  }
  async requestBiometric(_: Uint8Array, options: { timeoutMs: number }): Promise<Uint8Array> {
    this.asked.push({ timeoutMs: options.timeoutMs });
    return new Uint8Array([1, 2, 3]);
  }
}

describe("GlassesLinkPort maps the BLE link to device/'s GlassesPort", () => {
  it("maps product_seen and utterance fields, ignores assertions and battery, and unsubscribes", () => {
    const link = new FakeLink();
    const port = new GlassesLinkPort(link as unknown as GlassesLinkSurface);
    const events: GlassesEvent[] = [];
    const unsubscribe = port.subscribe((event) => events.push(event));
    const messages: GlassesInbound[] = [
      { type: "product_seen", v: 1, productId: "p1", merchantId: "m1", name: "Tea", amountMinor: 200, currency: "EUR" },
      { type: "utterance", v: 1, text: "oui", lang: "fr", confidence: 0.8 },
      { type: "battery", v: 1, percent: 50 },
      { type: "biometric_assertion", v: 1, assertion: new Uint8Array([1]) },
    ];
    for (const message of messages) link.emit("message", message);
    unsubscribe();
    link.emit("message", messages[0]);

    expect(events).toEqual([
      { type: "product_seen", product: { productId: "p1", productName: "Tea", merchantId: "m1", amountMinor: 200, currency: "EUR" } },
      { type: "utterance", utterance: { text: "oui", lang: "fr", asrConfidence: 0.8 } },
    ]);
    expect(link.listenerCount("message")).toBe(0);
  });

  it("shows a card with an offer as show_offer (stable offer id), says text, passes biometric requests through", async () => {
    const link = new FakeLink();
    const port = new GlassesLinkPort(link as unknown as GlassesLinkSurface);
    const offer = { productId: "p1", productName: "Tea", merchantId: "m1", unitAmountMinor: 200, quantity: 2, amountMinor: 400, currency: "EUR" };
    const card: GlassesCard = { kind: "offer", lang: "en", text: "2 × Tea, €4.00", offer };
    await port.show(card);
    await port.show({ kind: "result", lang: "en", text: "Cancelled." });
    await port.say("hello", "zh");
    const assertion = await port.requestBiometric(challenge, { timeoutMs: 123, signal: new AbortController().signal });

    expect(link.offers).toEqual([{ offerId: offerIdFor(offer), merchantId: "m1", text: card.text, lang: "en", amountMinor: 400, currency: "EUR" }]);
    expect(offerIdFor(offer)).toBe(offerIdFor({ ...offer }));
    expect(offerIdFor(offer)).not.toBe(offerIdFor({ ...offer, quantity: 3, amountMinor: 600 }));
    expect(link.said).toEqual([["hello", "zh"]]);
    expect(link.asked).toEqual([{ timeoutMs: 123 }]);
    expect([...assertion]).toEqual([1, 2, 3]);
  });
});
