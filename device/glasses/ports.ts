import type { Decision } from "../../protocol/messages.ts";
import type { Clock, Random } from "../../protocol/sources.ts";
import type { IntentParser, Lang } from "../intent/intent.ts";

/**
 * What the glasses hub needs from the world, kept minimal: the BLE link to the glasses, the settlement
 * link, a biometric verifier, the hub's signing key and its sequence counter. The hub machine reaches all
 * of them through named actors only, so the simulator and tests pass fakes and the machine stays pure.
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

export interface SettlementPort {
  /** Publishes a sealed hub request and resolves with the service's verified decision for `requestId`. */
  send(payload: Buffer, requestId: string, timeoutMs: number): Promise<Decision>;
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

export interface HubSigner {
  /** COSE_Sign1 over the CBOR body with the hub's key. */
  seal(body: object): Buffer;
}

export interface SeqStore {
  /** The next request sequence number: strictly increasing, persisted before it is returned. */
  next(): number;
}

/** The binding made at pairing: one pair of glasses, its owner, and the owner's wallet. */
export interface Pairing {
  ownerId: string;
  glassesId: string;
  walletId: string;
  /** The owner's language until they speak. */
  lang: Lang;
}

export interface GlassesHubDeps {
  glasses: GlassesPort;
  settlement: SettlementPort;
  verifier: BiometricVerifier;
  signer: HubSigner;
  seq: SeqStore;
  parser: IntentParser;
  clock: Clock;
  random: Random;
}
