import type { KeyObject } from "node:crypto";
import { assert } from "../../core/assert.ts";
import { encodeBody } from "../../protocol/cbor.ts";
import { signSign1 } from "../../protocol/cose.ts";
import { isId } from "../../protocol/ids.ts";
import { bodyHash, protocolVersion, type PaymentRequest } from "../../protocol/messages.ts";
import { systemClock, systemRandom, type Clock, type Random } from "../../core/sources.ts";
import type { SimWallet } from "./sim-wallet.ts";

/** One request, signed once: every retry sends exactly these bytes. */
export interface SignedRequest<T extends { requestId: string; seq: number } = PaymentRequest> {
  requestId: string;
  seq: number;
  body: T;
  /** COSE_Sign1 bytes as published. */
  bytes: Buffer;
  /** SHA-256 of the signed payload: what the service's decision names as `requestHash`. */
  hash: Uint8Array;
}

export interface HubRequestSignerOptions {
  hubId: string;
  merchantId: string;
  /** The hub's enrolled P-256 key. */
  privateKey: KeyObject;
  clock?: Clock;
  random?: Random;
  /** exp − iat of every request. Default 60 000 ms; the service refuses more than its requestLifetimeMsMax (5 min). */
  requestLifetimeMs?: number;
  /** The last seq this hub used (a real hub persists it); the next request carries lastSeq + 1. Default 0. */
  lastSeq?: number;
  /** Request ids are `<prefix><seq>`, unique as long as seq is. Default `<hubId>-`. */
  requestIdPrefix?: string;
}

/** Per-request choices; the overrides exist so tests can build requests the service must refuse. */
export interface PaymentDraft {
  mode?: PaymentRequest["mode"];
  context?: Record<string, string>;
  /** Reuse an earlier request id. */
  requestId?: string;
  /** Sign with this seq instead of the next one (the hub's counter does not move). */
  seq?: number;
  /** Issue time instead of the clock's now. */
  iatMs?: number;
}

export const requestLifetimeMsDefault = 60_000;
/** Length of the terminal's unpredictable number (EMV tag 9F37). */
export const unpredictableNumberBytes = 4;

/**
 * The signing half of a hub: keeps the hub's seq, reads a wallet's HCE credential for each payment and seals
 * the PaymentRequest with the hub key. Signing happens once per request, so a retry is byte-identical.
 */
export class HubRequestSigner {
  private lastSeqUsed: number;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly lifetimeMs: number;
  private readonly requestIdPrefix: string;

  constructor(private readonly options: HubRequestSignerOptions) {
    assert(isId(options.hubId) && isId(options.merchantId), "hubId and merchantId must be ids");
    this.lastSeqUsed = options.lastSeq ?? 0;
    assert(Number.isSafeInteger(this.lastSeqUsed) && this.lastSeqUsed >= 0, "lastSeq must be a non-negative integer");
    this.lifetimeMs = options.requestLifetimeMs ?? requestLifetimeMsDefault;
    assert(Number.isSafeInteger(this.lifetimeMs) && this.lifetimeMs > 0, "requestLifetimeMs must be a positive integer");
    this.requestIdPrefix = options.requestIdPrefix ?? `${options.hubId}-`;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
  }

  get hubId(): string {
    return this.options.hubId;
  }

  /** The highest seq signed so far. */
  get lastSeq(): number {
    return this.lastSeqUsed;
  }

  /** Taps the wallet for a credential over this amount and signs the payment request. */
  payment(wallet: SimWallet, amountMinor: number, draft: PaymentDraft = {}): SignedRequest<PaymentRequest> {
    const seq = draft.seq ?? this.lastSeqUsed + 1;
    if (draft.seq === undefined) this.lastSeqUsed = seq;
    const requestId = draft.requestId ?? `${this.requestIdPrefix}${seq}`;
    assert(isId(requestId), `request id ${requestId} is not an id`);
    const iat = draft.iatMs ?? this.clock.nowMs();
    const currency = wallet.currency;
    const unpredictableNumber = this.random.bytes(unpredictableNumberBytes);
    const body: PaymentRequest = {
      type: "payment_request",
      v: protocolVersion,
      hubId: this.options.hubId,
      merchantId: this.options.merchantId,
      requestId,
      seq,
      iat,
      exp: iat + this.lifetimeMs,
      amountMinor,
      currency,
      mode: draft.mode ?? "reader",
      payer: wallet.credential({ hubId: this.options.hubId, amountMinor, currency, unpredictableNumber }),
      ...(draft.context ? { context: draft.context } : {}),
    };
    const payload = encodeBody(body);
    return { requestId, seq, body, bytes: signSign1(payload, this.options.privateKey), hash: bodyHash(payload) };
  }
}
