/**
 * `tapwire/merchant`: what a merchant's back office needs to take tapwire's events: their shape, and the check of
 * a webhook delivery's signature (`tapwire merchant events --webhook URL --secret-file F` sends them).
 * @packageDocumentation
 */
export { merchantEventTypes, type MerchantEvent, type MerchantEventType } from "../broker/merchant-events/merchant-event.ts";
export { deliveryHeader, signatureHeader, signatureToleranceMs, verifyWebhookSignature, webhookSignature } from "../broker/merchant-events/webhook.ts";
