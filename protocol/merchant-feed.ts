import type { KeyObject } from "node:crypto";
import { z } from "zod";
import { decodeBody, encodeBody } from "./cbor.ts";
import { openSign1, signSign1 } from "./cose.ts";
import { ErrorCode, TapwireError } from "./errors.ts";
import { idSchema } from "./ids.ts";

/**
 * A merchant's event feed over MQTT (topics in topics.ts): each event is a COSE_Sign1 (ES256) by the service's
 * decision key over a CBOR body `{type: "merchant_event", v: 1, event}`; the merchant answers with where it stands,
 * `{type: "feed_ack", v: 1, afterSeq, resume}`, unsigned (its client certificate says who it is, and a position only
 * steers its own feed). The same event shape goes out as JSON to webhooks.
 */
export const feedVersion = 1;

/** A listening merchant acks at least this often, events or not, so the feed knows it is still there. */
export const feedAckIntervalMs = 60_000;
/** A merchant silent this long stops being served (until its next ack). Well above feedAckIntervalMs. */
export const feedQuietMsMax = 5 * feedAckIntervalMs;

/** Every event a merchant may be told of. */
export const merchantEventTypes = [
  "payment.approved",
  "payment.declined",
  "payment.held",
  "payment.reversed",
  "refund.succeeded",
  "refund.failed",
  "dispute.opened",
  "dispute.resolved",
  "payout",
] as const;
/** One of merchantEventTypes. */
export type MerchantEventType = (typeof merchantEventTypes)[number];

const seq = z.number().int().min(1);

/**
 * What a merchant is told of a decision that concerns it. `deliveryId` is the evidence row's (one per event, the
 * same on every delivery: a receiver drops what it has seen); `decision` is the service's signed decision itself
 * (COSE_Sign1, base64), checkable with the service's public key; for a `payout`, the clearing run's payout record
 * (CBOR, base64) as the evidence chain holds it, and `amountMinor` is the amount paid out.
 */
export const merchantEventSchema = z.object({
  deliveryId: z.string().max(64),
  seq,
  type: z.enum(merchantEventTypes),
  merchantId: idSchema,
  requestId: z.string().max(128),
  requestType: z.string().max(64),
  code: z.number().int(),
  reason: z.string().max(512),
  amountMinor: z.number().int().min(0).optional(),
  currency: z.string().max(3).optional(),
  paymentId: z.string().max(128).optional(),
  atMs: z.number().int().min(0),
  decision: z.string().max(8_192),
});
/** One event; see merchantEventSchema. */
export type MerchantEvent = z.infer<typeof merchantEventSchema>;

const feedEventBodySchema = z.object({ type: z.literal("merchant_event"), v: z.literal(feedVersion), event: merchantEventSchema });

const feedAckSchema = z.object({ type: z.literal("feed_ack"), v: z.literal(feedVersion), afterSeq: z.number().int().min(0), resume: z.boolean() });
/**
 * A merchant's position: every event up to `afterSeq` taken. `resume` (sent on each connect) asks the feed to send
 * again from there, whatever it sent before; without it the ack only frees room in the feed's window.
 */
export type FeedAck = z.infer<typeof feedAckSchema>;

/** The service's side: one event, signed. */
export function sealFeedEvent(event: MerchantEvent, serviceKey: KeyObject): Buffer {
  return signSign1(encodeBody({ type: "merchant_event", v: feedVersion, event }), serviceKey);
}

/** The merchant's side: the event, once its signature verifies with the service's key; typed errors otherwise. */
export function openFeedEvent(bytes: Uint8Array, servicePublicKey: KeyObject): MerchantEvent {
  const parsed = feedEventBodySchema.safeParse(decodeBody(openSign1(bytes, servicePublicKey)));
  if (!parsed.success) throw new TapwireError(`not a merchant event: ${parsed.error.issues[0]?.message ?? "invalid"}`, ErrorCode.SchemaInvalid);
  return parsed.data.event;
}

export function encodeFeedAck(afterSeq: number, resume: boolean): Buffer {
  return encodeBody({ type: "feed_ack", v: feedVersion, afterSeq, resume });
}

export function decodeFeedAck(bytes: Uint8Array): FeedAck {
  const parsed = feedAckSchema.safeParse(decodeBody(bytes));
  if (!parsed.success) throw new TapwireError(`not a feed position: ${parsed.error.issues[0]?.message ?? "invalid"}`, ErrorCode.SchemaInvalid);
  return parsed.data;
}
