import { createHash } from "node:crypto";
import type { BiometricRequestOptions, GlassesCard, GlassesEvent, GlassesPort, Offer } from "../../device/glasses/ports.ts";
import type { Lang } from "../../device/intent/intent.ts";
import type { ShowOfferMessage } from "../../protocol/glasses.ts";
import type { GlassesLink } from "../ble/glasses-link.ts";
import type { GlassesInbound } from "../ble/glasses-link-options.ts";

/** The part of GlassesLink the hub's glasses port uses (tests may hand in anything shaped like it). */
export type GlassesLinkSurface = Pick<GlassesLink, "showOffer" | "say" | "requestBiometric" | "on" | "off">;

/**
 * The same offer always gets the same id (the glasses may replace a card in place), and any offer fits the
 * id alphabet and length whatever its product id.
 */
export function offerIdFor(offer: Offer): string {
  const digest = createHash("sha256")
    .update(JSON.stringify([offer.merchantId, offer.productId, offer.quantity, offer.amountMinor, offer.currency]))
    .digest("hex");
  return `offer-${digest.slice(0, 32)}`;
}

function showOfferOf(card: GlassesCard, offer: Offer): Omit<ShowOfferMessage, "type" | "v"> {
  return {
    offerId: offerIdFor(offer),
    merchantId: offer.merchantId,
    text: card.text,
    lang: card.lang,
    amountMinor: offer.amountMinor,
    currency: offer.currency,
  };
}

function toGlassesEvent(message: GlassesInbound): GlassesEvent | undefined {
  switch (message.type) {
    case "product_seen":
      return {
        type: "product_seen",
        product: {
          productId: message.productId,
          productName: message.name,
          merchantId: message.merchantId,
          amountMinor: message.amountMinor,
          currency: message.currency,
        },
      };
    case "utterance":
      return { type: "utterance", utterance: { text: message.text, lang: message.lang, asrConfidence: message.confidence } };
    default:
      // Assertions reach the hub through requestBiometric's own wait; battery reports are the link's business.
      return undefined;
  }
}

/** device/'s GlassesPort over the BLE GlassesLink. */
export class GlassesLinkPort implements GlassesPort {
  constructor(private readonly link: GlassesLinkSurface) {}

  /**
   * The glasses display offers only (show_offer); every card's text is also spoken by the say() the hub
   * sends right after show(), so a card without an offer has nothing left to display.
   */
  async show(card: GlassesCard): Promise<void> {
    if (card.offer === undefined) return;
    await this.link.showOffer(showOfferOf(card, card.offer));
  }

  say(text: string, lang: Lang): Promise<void> {
    return this.link.say(text, lang);
  }

  requestBiometric(challenge: Uint8Array, options: BiometricRequestOptions): Promise<Uint8Array> {
    return this.link.requestBiometric(challenge, { timeoutMs: options.timeoutMs, signal: options.signal });
  }

  subscribe(listener: (event: GlassesEvent) => void): () => void {
    const onMessage = (message: GlassesInbound) => {
      const event = toGlassesEvent(message);
      if (event !== undefined) listener(event);
    };
    this.link.on("message", onMessage);
    return () => {
      this.link.off("message", onMessage);
    };
  }
}
