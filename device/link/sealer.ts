import type { z } from "zod";
import { assert } from "../../core/assert.ts";
import {
  offlineCaptureSchema,
  parseBody,
  paymentStatusSchema,
  protocolVersion,
  reversalRequestSchema,
  tagOfferSchema,
  type ReversalRequest,
} from "../../protocol/messages.ts";
import type { Clock, Random } from "../../core/sources.ts";
import type { HubJournal, JournalRequest, NewSale, RequestKind } from "../journal/hub-journal.ts";
import type { HubSigner } from "../ports.ts";

export interface HubIdentity {
  hubId: string;
  merchantId: string;
}

export interface SealerDeps {
  journal: HubJournal;
  signer: HubSigner;
  clock: Clock;
  random: Random;
  identity: HubIdentity;
}

/** The counted header every hub request carries (protocol/messages.ts hubRequestBase). */
export interface RequestHeader {
  v: typeof protocolVersion;
  hubId: string;
  merchantId: string;
  requestId: string;
  seq: number;
  iat: number;
  exp: number;
}

export interface SealInput {
  kind: RequestKind;
  saleId: string;
  /** Opens the sale with this request as the one that charges the customer. */
  sale?: NewSale;
  /** The payment a reversal or status query is about. */
  targetRequestId?: string;
  reason?: string;
  /** Fixed by the caller (an offline capture keeps its sale's id); a fresh UUID otherwise. */
  requestId?: string;
  supersedes?: string;
  ttlMs: number;
}

/** Bytes of the tag offer's single-use nonce (the schema's minimum). */
export const offerNonceBytes = 16;

export type ReversalReason = ReversalRequest["reason"];

/**
 * Builds, checks, signs and journals every request a hub sends, in one step: the header (seq from the journal,
 * taken in the same transaction), the body validated against its schema before signing (paired with the
 * service's check after parsing, so the hub never signs junk), then the record on disk. Nothing signed exists
 * outside the journal.
 */
export class RequestSealer {
  constructor(private readonly deps: SealerDeps) {}

  get identity(): HubIdentity {
    return this.deps.identity;
  }

  /** A counted request: `fields` is the body without the header. */
  seal<T>(schema: z.ZodType<T>, input: SealInput, fields: Record<string, unknown>): JournalRequest {
    const requestId = input.requestId ?? this.deps.random.uuid();
    return this.deps.journal.seal({ ...input, requestId }, (seq) => {
      const iat = this.deps.clock.nowMs();
      const header: RequestHeader = { v: protocolVersion, ...this.deps.identity, requestId, seq, iat, exp: iat + input.ttlMs };
      const body = parseBody(schema, { ...fields, ...header, merchantId: (fields["merchantId"] as string | undefined) ?? header.merchantId });
      return { payload: this.deps.signer.seal(body as object), iatMs: iat, expMs: iat + input.ttlMs };
    });
  }

  /** Tag mode: the hub-signed offer a phone reads; not counted (no seq), but journaled like the rest. */
  offer(sale: NewSale, ttlMs: number): JournalRequest {
    const offerId = this.deps.random.uuid();
    return this.deps.journal.seal({ kind: "offer", saleId: sale.saleId, requestId: offerId, sale, seq: false }, () => {
      const iat = this.deps.clock.nowMs();
      const body = parseBody(tagOfferSchema, {
        type: "tag_offer",
        v: protocolVersion,
        ...this.deps.identity,
        offerId,
        amountMinor: sale.amountMinor,
        currency: sale.currency,
        nonce: new Uint8Array(this.deps.random.bytes(offerNonceBytes)),
        iat,
        exp: iat + ttlMs,
      });
      return { payload: this.deps.signer.seal(body), iatMs: iat, expMs: iat + ttlMs };
    });
  }

  /** Undoes the sale's payment (or offer, or capture); supersedes the request it reverses when given. */
  reversal(saleId: string, paymentRequestId: string, reason: ReversalReason, ttlMs: number, supersedes?: string): JournalRequest {
    return this.seal(
      reversalRequestSchema,
      { kind: "reversal", saleId, targetRequestId: paymentRequestId, reason, ttlMs, ...(supersedes ? { supersedes } : {}) },
      { type: "reversal", paymentRequestId, reason },
    );
  }

  /** Asks what became of a payment the hub lost track of; supersedes it. */
  statusQuery(saleId: string, paymentRequestId: string, ttlMs: number): JournalRequest {
    return this.seal(
      paymentStatusSchema,
      { kind: "status", saleId, targetRequestId: paymentRequestId, supersedes: paymentRequestId, ttlMs },
      { type: "payment_status", paymentRequestId },
    );
  }

  /** A fresh envelope for a stored offline capture, under the requestId its sale was given at the counter. */
  forward(capture: JournalRequest, ttlMs: number): JournalRequest {
    const stored = capture.capture;
    const sale = this.deps.journal.sale(capture.saleId);
    assert(stored !== undefined && sale !== undefined, `capture ${capture.requestId} has no stored sale`);
    return this.deps.journal.reseal(capture.requestId, (seq) => {
      const iat = this.deps.clock.nowMs();
      const body = parseBody(offlineCaptureSchema, {
        type: "offline_capture",
        v: protocolVersion,
        ...this.deps.identity,
        requestId: capture.requestId,
        seq,
        iat,
        exp: iat + ttlMs,
        amountMinor: sale.amountMinor,
        currency: sale.currency,
        payer: stored.credential,
        capturedAt: stored.capturedAtMs,
        backlog: { position: stored.backlog.position, totalMinor: stored.backlog.totalMinor, oldestCapturedAt: stored.backlog.oldestCapturedAtMs },
        limits: stored.limits,
      });
      return { payload: this.deps.signer.seal(body), iatMs: iat, expMs: iat + ttlMs };
    });
  }
}
