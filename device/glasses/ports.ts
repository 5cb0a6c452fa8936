import type { Random } from "../../core/sources.ts";
import type { Outbox } from "../link/outbox.ts";
import type { RequestSealer } from "../link/sealer.ts";
import type { IntentParser, Lang } from "../intent/intent.ts";

/**
 * What the glasses hub needs from the world, kept minimal: the BLE link to the glasses, a biometric verifier,
 * and the journal-backed sealer and outbox every hub sends through. The hub machine reaches all of them through
 * named actors only, so the simulator and tests pass fakes and the machine stays pure.
 */

/** The glasses recognised a product (or a merchant's code) and its unit price. */
export interface ProductSeen {
  productId: string;
  productName: string;
  merchantId: string;
  /** Price of one unit, in minor units of `currency`. */
  amountMinor: number;
  currency: string;
}

/** One transcript from the glasses' speech recogniser. */
export interface Utterance {
  text: string;
  lang: Lang;
  /** The recogniser's confidence, 0..1. */
  asrConfidence: number;
}

export type GlassesEvent = { type: "product_seen"; product: ProductSeen } | { type: "utterance"; utterance: Utterance };

/** The cart as the person sees it: `amountMinor` is unit price × quantity. */
export interface Offer {
  productId: string;
  productName: string;
  merchantId: string;
  unitAmountMinor: number;
  quantity: number;
  amountMinor: number;
  currency: string;
}

export type CardKind = "offer" | "prompt" | "result";

/** What the glasses display; `text` is ready to show in `lang`. */
export interface GlassesCard {
  kind: CardKind;
  lang: Lang;
  text: string;
  offer?: Offer;
}

export interface BiometricRequestOptions {
  /** The glasses must answer within this; the driver rejects after it (BiometricTimeout or BleTimeout). */
  timeoutMs: number;
  /** Aborted when the hub stops waiting (cancelled, timed out, stopped). */
  signal: AbortSignal;
}

export interface GlassesPort {
  show(card: GlassesCard): Promise<void>;
  say(text: string, lang: Lang): Promise<void>;
  /** Asks the wearer to confirm by voiceprint or iris; resolves with the signed assertion bytes. */
  requestBiometric(challenge: Uint8Array, options: BiometricRequestOptions): Promise<Uint8Array>;
  /** Delivers product_seen and utterance events until the returned function is called. */
  subscribe(listener: (event: GlassesEvent) => void): () => void;
}

/** Who a verified biometric assertion names. */
export interface BiometricIdentity {
  ownerId: string;
  glassesId: string;
}

export interface BiometricVerifier {
  /**
   * Checks the assertion's signature with the paired glasses' key, that it answers `challenge`, and that
   * the user was verified and live. Throws TapwireError BiometricFailed (or GlassesNotPaired) otherwise.
   */
  verify(assertion: Uint8Array, challenge: Uint8Array): BiometricIdentity | Promise<BiometricIdentity>;
}

/** The binding made at pairing: one pair of glasses, its owner, and the owner's wallet. */
export interface Pairing {
  ownerId: string;
  glassesId: string;
  walletId: string;
  /** The owner's language until they speak. */
  lang: Lang;
}

/** What one purchase machine runs on; the outbox and sealer outlive pairings (GlassesHubRuntime owns them). */
export interface GlassesHubDeps {
  glasses: GlassesPort;
  verifier: BiometricVerifier;
  parser: IntentParser;
  /** Signs and journals every request; nothing signed exists outside the journal. */
  sealer: RequestSealer;
  /** The one sender and resender of journaled requests. */
  outbox: Outbox;
  random: Random;
}
