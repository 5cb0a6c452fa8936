import type { z } from "zod";
import {
  parseBody,
  paymentRequestSchema,
  protocolVersion,
  reversalRequestSchema,
  tagOfferSchema,
  type HceCredential,
  type PaymentRequest,
  type ReversalRequest,
  type TagOffer,
} from "../../protocol/messages.ts";
import type { Clock, Random } from "../../protocol/sources.ts";
import type { HubSigner, SeqStore } from "../ports.ts";

/** A hub-signed message and what the hub must remember about it. For a TagOffer, requestId is the offerId. */
export interface SealedRequest {
  requestId: string;
  payload: Buffer;
  expMs: number;
}

export interface HubIdentity {
  hubId: string;
  merchantId: string;
}

/** Everything sealing needs from outside: key, counter, time and randomness, all injected. */
export interface SealingSources {
  signer: HubSigner;
  seq: SeqStore;
  clock: Clock;
  random: Random;
}

/** Bytes of the tag offer's single-use nonce (the schema's minimum). */
export const offerNonceBytes = 16;

export type ReversalReason = ReversalRequest["reason"];

/** What a payment request and a reversal share: both are counted requests (`seq`) with their own id and lifetime. */
function requestHeader(
  sources: SealingSources,
  identity: HubIdentity,
  ttlMs: number,
): Pick<PaymentRequest, "v" | "hubId" | "merchantId" | "requestId" | "seq" | "iat" | "exp"> {
  const iat = sources.clock.nowMs();
  return {
    v: protocolVersion,
    hubId: identity.hubId,
    merchantId: identity.merchantId,
    requestId: sources.random.uuid(),
    seq: sources.seq.next(),
    iat,
    exp: iat + ttlMs,
  };
}

/** Validates before signing (paired with the service's check after parsing) so the hub never signs junk. */
function seal<T extends { exp: number }>(signer: HubSigner, schema: z.ZodType<T>, body: T, requestId: string): SealedRequest {
  const checked = parseBody(schema, body);
  return { requestId, payload: signer.seal(checked), expMs: checked.exp };
}

export function sealPaymentRequest(
  sources: SealingSources,
  identity: HubIdentity,
  input: { amountMinor: number; currency: string; credential: HceCredential; ttlMs: number },
): SealedRequest {
  const body: PaymentRequest = {
    type: "payment_request",
    ...requestHeader(sources, identity, input.ttlMs),
    amountMinor: input.amountMinor,
    currency: input.currency,
    mode: "reader",
    payer: input.credential,
  };
  return seal(sources.signer, paymentRequestSchema, body, body.requestId);
}

export function sealTagOffer(
  sources: SealingSources,
  identity: HubIdentity,
  input: { amountMinor: number; currency: string; ttlMs: number },
): SealedRequest {
  const iat = sources.clock.nowMs();
  const body: TagOffer = {
    type: "tag_offer",
    v: protocolVersion,
    hubId: identity.hubId,
    merchantId: identity.merchantId,
    offerId: sources.random.uuid(),
    amountMinor: input.amountMinor,
    currency: input.currency,
    nonce: new Uint8Array(sources.random.bytes(offerNonceBytes)),
    iat,
    exp: iat + input.ttlMs,
  };
  return seal(sources.signer, tagOfferSchema, body, body.offerId);
}

export function sealReversal(
  sources: SealingSources,
  identity: HubIdentity,
  input: { paymentRequestId: string; reason: ReversalReason; ttlMs: number },
): SealedRequest {
  const body: ReversalRequest = {
    type: "reversal",
    ...requestHeader(sources, identity, input.ttlMs),
    paymentRequestId: input.paymentRequestId,
    reason: input.reason,
  };
  return seal(sources.signer, reversalRequestSchema, body, body.requestId);
}
