import { createHmac, timingSafeEqual } from "node:crypto";
import type { MerchantEvent } from "../../protocol/merchant-feed.ts";

/** The header with the delivery id: the same on every retry of one event, so a receiver drops repeats by it. */
export const deliveryHeader = "tapwire-delivery";
/** The header with the signature over the delivery's time and body (see webhookSignature). */
export const signatureHeader = "tapwire-signature";
/** A receiver refuses a signature older than this (a captured request replayed later). */
export const signatureToleranceMs = 5 * 60_000;

/**
 * Stripe's webhook convention: `t=<ms>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, so the receiver checks both
 * who sent the body and when, with the endpoint's own secret.
 */
export function webhookSignature(secret: string, timestampMs: number, body: string): string {
  return `t=${timestampMs},v1=${createHmac("sha256", secret).update(`${timestampMs}.${body}`).digest("hex")}`;
}

/** A receiver's check of a delivery: signed with `secret`, over this body, not older than the tolerance. */
export function verifyWebhookSignature(secret: string, header: string | undefined, body: string, nowMs: number): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? "");
  if (!match) return false;
  const timestampMs = Number(match[1]);
  if (Math.abs(nowMs - timestampMs) > signatureToleranceMs) return false;
  const expected = Buffer.from(webhookSignature(secret, timestampMs, body).slice(`t=${timestampMs},v1=`.length), "hex");
  return timingSafeEqual(expected, Buffer.from(match[2]!, "hex"));
}

export type DeliveryResult = { ok: true } | { ok: false; why: string };

/** POSTs one event as JSON; ok only on a 2xx within timeoutMs (anything else is retried by the caller). */
export async function postEvent(url: string, secret: string, event: MerchantEvent, nowMs: number, timeoutMs: number): Promise<DeliveryResult> {
  const body = JSON.stringify(event);
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", [deliveryHeader]: event.deliveryId, [signatureHeader]: webhookSignature(secret, nowMs, body) },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    return response.ok ? { ok: true } : { ok: false, why: `HTTP ${response.status}` };
  } catch (error) {
    return { ok: false, why: (error as Error).message };
  }
}
