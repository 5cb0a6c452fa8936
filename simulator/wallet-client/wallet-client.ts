import type { KeyObject } from "node:crypto";
import type { HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { decodeBody } from "../../protocol/cbor.ts";
import { readEnvelope, sealMessage } from "../../protocol/envelope.ts";
import { logger } from "../../core/log.ts";
import {
  parseBody,
  protocolVersion,
  tagOfferSchema,
  walletTagPaymentSchema,
  type Decision,
  type TagOffer,
  type WalletTagPayment,
} from "../../protocol/messages.ts";
import type { Clock } from "../../core/sources.ts";

const log = logger("tapwire:sim:wallet");

export interface WalletClientOptions {
  walletId: string;
  /** The wallet's enrolled P-256 key: the service checks every WalletTagPayment against it. */
  privateKey: KeyObject;
  /** Started, connected as principal {kind: "wallet", id: walletId}; the caller owns it. */
  link: HubLink;
  clock: Clock;
  decisionTimeoutMs: number;
}

export interface WalletPayment {
  /** The hub-signed offer as read from the tag. */
  offerBytes: Uint8Array;
  offer: TagOffer;
  decision: Decision;
}

/** Payments remembered for the UI and tests; the oldest go first. */
export const walletHistoryMax = 64;

/**
 * The online half of a tag-reading phone wallet (Alipay Tap! style): it takes the hub-signed offer exactly as the
 * phone read it from the tag, signs a WalletTagPayment around it with the wallet's key and sends it over its own
 * MQTT link; the service answers both the wallet and the hub. Wire TagReadingWallet's onOffer to pay().
 */
export class WalletClient {
  readonly history: WalletPayment[] = [];
  private lastIatMs = 0;

  constructor(private readonly options: WalletClientOptions) {}

  /**
   * Pays the offer. Resolves with the service's verified decision, approved or not (a declined one carries the
   * TapwireError code, e.g. NonceReplayed when the offer was already paid). Rejects SchemaInvalid when the bytes
   * are not a tag offer, Offline / DecisionTimeout when the service cannot be reached.
   */
  async pay(offerBytes: Uint8Array): Promise<WalletPayment> {
    // The wallet shows the person what it is about to pay; the service verifies the hub's signature.
    const offer = parseBody(tagOfferSchema, decodeBody(readEnvelope(offerBytes).payload));
    const body: WalletTagPayment = {
      type: "wallet_tag_payment",
      v: protocolVersion,
      walletId: this.options.walletId,
      offer: new Uint8Array(offerBytes),
      iat: this.nextIatMs(),
    };
    const sealed = sealMessage(parseBody(walletTagPaymentSchema, body), this.options.privateKey);
    const reply = await this.options.link.request(sealed, offer.offerId, this.options.decisionTimeoutMs);
    const payment = { offerBytes: new Uint8Array(offerBytes), offer, decision: reply.decision };
    this.history.push(payment);
    if (this.history.length > walletHistoryMax) this.history.shift();
    log.info({ offerId: offer.offerId, status: reply.decision.status, code: reply.decision.code }, "tag payment answered");
    return payment;
  }

  /**
   * Each message gets its own iat, even two in the same millisecond: a byte-identical resend would be answered
   * with the stored first decision, while a new message for a spent offer must meet the nonce check.
   */
  private nextIatMs(): number {
    this.lastIatMs = Math.max(this.options.clock.nowMs(), this.lastIatMs + 1);
    return this.lastIatMs;
  }
}
