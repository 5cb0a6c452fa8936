/**
 * `tapwire/merchant`: what a merchant's back office needs to take tapwire's events: their shape, the signed feed over
 * MQTT (`MerchantFeedClient`, with the certificate `tapwire merchant enroll-feed` issues), and the check of a webhook
 * delivery's signature (`tapwire merchant events --webhook URL --secret-file F` sends them).
 * @packageDocumentation
 */
export { merchantEventTypes, openFeedEvent, type MerchantEvent, type MerchantEventType } from "../protocol/merchant-feed.ts";
export { MerchantFeedClient, type FeedCounts, type FeedPosition, type MerchantFeedOptions } from "../sdk/merchant-feed.ts";
export { EventCursor } from "../broker/merchant-events/event-cursor.ts";
export { deliveryHeader, signatureHeader, signatureToleranceMs, verifyWebhookSignature, webhookSignature } from "../broker/merchant-events/webhook.ts";
