import type { Sign1Parts } from "../../protocol/cose.ts";
import { decodeBody } from "../../protocol/cbor.ts";
import { openMessage, readEnvelope } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import {
  hubRequestSchema,
  tagOfferSchema,
  walletTagPaymentSchema,
  type HubRequest,
  type TagOffer,
  type WalletTagPayment,
} from "../../protocol/messages.ts";
import type { ClientKind } from "../../protocol/topics.ts";
import type { Registry } from "../registry/registry.ts";
import { describeUnverified, type RequestSummary } from "./decisions.ts";

/** A message as it arrives from the broker. (kind, id) come from the topic, which only its owner may publish to. */
export interface Inbound {
  kind: ClientKind;
  id: string;
  payload: Uint8Array;
}

export interface Recipient {
  kind: ClientKind;
  id: string;
}

/**
 * Phase one of a message, done outside the transaction because it is pure CPU: envelope, sender key and
 * signatures. Everything that depends on state that can change (revocation, seq, idempotency, balances) is
 * checked again, or for the first time, inside the transaction.
 */
export type Admission =
  | { outcome: "refused"; summary: RequestSummary; error: TapwireError; recipients: Recipient[] }
  | { outcome: "hub_request"; hubId: string; request: HubRequest; hash: Uint8Array; summary: RequestSummary }
  | {
      outcome: "wallet_tag";
      walletId: string;
      hubId: string;
      message: WalletTagPayment;
      offer: TagOffer;
      hash: Uint8Array;
      summary: RequestSummary;
    };

export function admit(inbound: Inbound, registry: Registry): Admission {
  switch (inbound.kind) {
    case "hub":
      return admitHub(inbound, registry);
    case "wallet":
      return admitWallet(inbound, registry);
    case "agent":
      return refused(
        new TapwireError("agent requests are not handled by this settlement service", ErrorCode.UnsupportedRequest),
        describeUnverified(undefined, inbound.id),
        inbound,
      );
  }
}

function refused(error: TapwireError, summary: RequestSummary, sender: Inbound): Admission {
  return { outcome: "refused", summary, error, recipients: [{ kind: sender.kind, id: sender.id }] };
}

function admitHub(inbound: Inbound, registry: Registry): Admission {
  let parts: Sign1Parts | undefined;
  try {
    parts = readEnvelope(inbound.payload);
    const hub = registry.getActiveHub(inbound.id);
    const { body, hash } = openMessage(parts, registry.hubPublicKey(hub), hubRequestSchema);
    if (body.hubId !== inbound.id) {
      throw new TapwireError(`body names hub ${body.hubId}, topic is hub ${inbound.id}`, ErrorCode.HubMismatch, { hubId: inbound.id });
    }
    if (body.merchantId !== hub.merchantId) {
      throw new TapwireError(`hub ${hub.hubId} belongs to merchant ${hub.merchantId}, not ${body.merchantId}`, ErrorCode.MerchantMismatch, {
        hubId: hub.hubId,
      });
    }
    const summary: RequestSummary = { hubId: hub.hubId, requestId: body.requestId, requestType: body.type, requestHash: hash };
    return { outcome: "hub_request", hubId: hub.hubId, request: body, hash, summary };
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return refused(error, describeUnverified(parts?.payload, inbound.id), inbound);
  }
}

function admitWallet(inbound: Inbound, registry: Registry): Admission {
  let parts: Sign1Parts | undefined;
  let summary: RequestSummary | undefined;
  try {
    parts = readEnvelope(inbound.payload);
    const wallet = registry.getWallet(inbound.id);
    const { body: message, hash } = openMessage(parts, registry.walletPublicKey(wallet), walletTagPaymentSchema);
    summary = { hubId: inbound.id, requestId: "", requestType: message.type, requestHash: hash };
    if (message.walletId !== inbound.id) {
      throw new TapwireError(`body names wallet ${message.walletId}, topic is wallet ${inbound.id}`, ErrorCode.WalletMismatch, {
        walletId: inbound.id,
      });
    }
    const offerParts = readEnvelope(message.offer);
    const hubId = unverifiedHubId(offerParts.payload);
    summary.hubId = hubId;
    const hub = registry.getActiveHub(hubId);
    const { body: offer } = openMessage(offerParts, registry.hubPublicKey(hub), tagOfferSchema);
    summary.requestId = offer.offerId;
    if (offer.merchantId !== hub.merchantId) {
      throw new TapwireError(`hub ${hub.hubId} belongs to merchant ${hub.merchantId}, not ${offer.merchantId}`, ErrorCode.MerchantMismatch, {
        hubId: hub.hubId,
      });
    }
    return { outcome: "wallet_tag", walletId: wallet.walletId, hubId, message, offer, hash, summary };
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return refused(error, summary ?? describeUnverified(parts?.payload, inbound.id), inbound);
  }
}

/** The offer's hub picks the key that verifies the offer; the signature check then vouches for the whole body. */
function unverifiedHubId(payload: Uint8Array): string {
  const body = decodeBody(payload);
  const hubId = typeof body === "object" && body !== null ? (body as Record<string, unknown>)["hubId"] : undefined;
  if (typeof hubId !== "string" || !isId(hubId)) {
    throw new TapwireError("tag offer does not name a valid hubId", ErrorCode.SchemaInvalid);
  }
  return hubId;
}
