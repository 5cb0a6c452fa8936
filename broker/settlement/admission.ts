import { verifySign1, type Sign1Parts } from "../../protocol/cose.ts";
import { decodeBody } from "../../protocol/cbor.ts";
import { openMessage, readEnvelope } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import {
  bodyHash,
  hubRequestSchema,
  parseBody,
  tagOfferSchema,
  walletTagPaymentSchema,
  type HubRequest,
  type TagOffer,
  type WalletTagPayment,
} from "../../protocol/messages.ts";
import { agentPaymentSchema, importAgentKey, mandateRevokeSchema, parseOpenMandate, type AgentPayment, type MandateRevoke, type OpenMandate } from "../../protocol/mandates.ts";
import { disputeOpenSchema, walletStepUpApprovalSchema, type DisputeOpen, type WalletStepUpApproval } from "../../protocol/review.ts";
import type { MandateStore } from "../agents/mandate-store.ts";
import { describeUnverified, type Inbound, type Recipient, type RequestSummary } from "../decisions/verdicts.ts";
import { sha256 } from "../../protocol/bytes.ts";
import type { Registry } from "../registry/registry.ts";
import type { ProviderOutcome } from "../providers/provider-gateway.ts";
import { inlineChecks, type SignatureChecks } from "./prechecks.ts";
import { UnverifiedReading } from "../decisions/unverified-reading.ts";

/** A wallet's own requests (anything but a tag payment). */
export type WalletMessage = OpenMandate | MandateRevoke | WalletStepUpApproval | DisputeOpen;

/** What the first steps made of a message: refused already, or verified and admitted for the transaction. */
export type Admission =
  | { outcome: "refused"; summary: RequestSummary; error: TapwireError; recipients: Recipient[] }
  | {
      outcome: "hub_request";
      hubId: string;
      request: HubRequest;
      hash: Uint8Array;
      summary: RequestSummary;
      bytes: Uint8Array;
      reading: UnverifiedReading;
      /** Also checks the payer's cryptogram inside the transaction: answered from the same precheck. */
      checks: SignatureChecks;
      /** The wallet provider's answer, asked before the batch (providers/provider-stage.ts); absent for in-house wallets. */
      provider?: ProviderOutcome;
    }
  | {
      outcome: "wallet_tag";
      walletId: string;
      hubId: string;
      message: WalletTagPayment;
      offer: TagOffer;
      hash: Uint8Array;
      summary: RequestSummary;
      bytes: Uint8Array;
      reading: UnverifiedReading;
    }
  | { outcome: "wallet_request"; walletId: string; message: WalletMessage; hash: Uint8Array; summary: RequestSummary; bytes: Uint8Array; reading: UnverifiedReading }
  | {
      outcome: "agent_payment";
      agentId: string;
      payment: AgentPayment;
      hash: Uint8Array;
      /** SHA-256 of the closed mandate's bytes as received: the copy-detection key, consumed once. */
      closedHash: Uint8Array;
      summary: RequestSummary;
      bytes: Uint8Array;
      reading: UnverifiedReading;
    };

/** What admission reads; all of it is re-checked inside the transaction where it could have changed. */
export interface AdmissionDeps {
  registry: Registry;
  mandates: MandateStore;
}

/**
 * The pipeline's first steps, verify and admit (pipeline.ts has the rest), done outside the transaction because
 * they are pure CPU: envelope, sender key and signatures, then the body against its schema and its topic. Every
 * operating fault is answered as a refusal. Everything that depends on state that can change (revocation, seq,
 * idempotency, balances) is checked again, or for the first time, inside the transaction.
 *
 * `checks` answers signature checks a worker already made for this message (see prechecks.ts); `reading` is the
 * message's one decoding on the main thread, shared with the precheck job and the provider stage.
 */
export function admit(inbound: Inbound, deps: AdmissionDeps, checks: SignatureChecks = inlineChecks, reading = new UnverifiedReading(inbound.payload)): Admission {
  switch (inbound.kind) {
    case "hub":
      return admitHub(inbound, reading, deps.registry, checks);
    case "wallet":
      return unverifiedType(reading) === "wallet_tag_payment" ? admitWallet(inbound, reading, deps.registry) : admitWalletRequest(inbound, reading, deps.registry);
    case "agent":
      return admitAgent(inbound, reading, deps);
  }
}

function refused(error: TapwireError, summary: RequestSummary, sender: Inbound): Admission {
  return { outcome: "refused", summary, error, recipients: [{ kind: sender.kind, id: sender.id }] };
}

function admitHub(inbound: Inbound, reading: UnverifiedReading, registry: Registry, checks: SignatureChecks): Admission {
  let parts: Sign1Parts | undefined;
  try {
    parts = reading.envelope();
    const hub = registry.getActiveHub(inbound.id);
    // openMessage, with the signature check asked of `checks`.
    const payload = checks.verifyEnvelope(inbound.payload, parts, registry.hubPublicKey(hub), hub.publicKeyPem);
    // The body decoded once on arrival: `payload`, now verified, is that reading's payload.
    const body = parseBody(hubRequestSchema, reading.body());
    const hash = bodyHash(payload);
    if (body.hubId !== inbound.id) {
      throw new TapwireError(`body names hub ${body.hubId}, topic is hub ${inbound.id}`, ErrorCode.HubMismatch, { hubId: inbound.id });
    }
    if (body.merchantId !== hub.merchantId) {
      throw new TapwireError(`hub ${hub.hubId} belongs to merchant ${hub.merchantId}, not ${body.merchantId}`, ErrorCode.MerchantMismatch, {
        hubId: hub.hubId,
      });
    }
    const summary: RequestSummary = { principalKind: "hub", hubId: hub.hubId, requestId: body.requestId, requestType: body.type, requestHash: hash };
    return { outcome: "hub_request", hubId: hub.hubId, request: body, hash, summary, bytes: inbound.payload, reading, checks };
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return refused(error, describeUnverified(parts?.payload, inbound), inbound);
  }
}

function admitWallet(inbound: Inbound, reading: UnverifiedReading, registry: Registry): Admission {
  let parts: Sign1Parts | undefined;
  let summary: RequestSummary | undefined;
  try {
    parts = reading.envelope();
    const wallet = registry.getActiveWallet(inbound.id);
    const { body: message, hash } = openMessage(parts, registry.walletPublicKey(wallet), walletTagPaymentSchema);
    summary = { principalKind: "wallet", hubId: inbound.id, requestId: "", requestType: message.type, requestHash: hash };
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
    return { outcome: "wallet_tag", walletId: wallet.walletId, hubId, message, offer, hash, summary, bytes: inbound.payload, reading };
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return refused(error, summary ?? describeUnverified(parts?.payload, inbound), inbound);
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

/** A wallet's own requests: register or revoke a mandate, answer a step-up, open a dispute. */
function admitWalletRequest(inbound: Inbound, reading: UnverifiedReading, registry: Registry): Admission {
  let parts: Sign1Parts | undefined;
  let summary: RequestSummary | undefined;
  try {
    parts = reading.envelope();
    const wallet = registry.getActiveWallet(inbound.id);
    const payload = verifySign1(parts, registry.walletPublicKey(wallet));
    const hash = bodyHash(payload);
    summary = describeUnverified(payload, inbound);
    const body = parseWalletMessage(reading.body());
    const requestId = body.type === "open_mandate" ? body.mandateId : body.requestId;
    summary = { principalKind: "wallet", hubId: inbound.id, requestId, requestType: body.type, requestHash: hash };
    if (body.walletId !== inbound.id) {
      throw new TapwireError(`body names wallet ${body.walletId}, topic is wallet ${inbound.id}`, ErrorCode.WalletMismatch, { walletId: inbound.id });
    }
    return { outcome: "wallet_request", walletId: wallet.walletId, message: body, hash, summary, bytes: inbound.payload, reading };
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return refused(error, summary ?? describeUnverified(parts?.payload, inbound), inbound);
  }
}

/** Picks the schema by `type`; an open mandate also refuses constraints it does not know. */
function parseWalletMessage(body: unknown): WalletMessage {
  const type = bodyField(body, "type");
  switch (type) {
    case "open_mandate":
      return parseOpenMandate(body);
    case "mandate_revoke":
      return parseBody(mandateRevokeSchema, body);
    case "step_up_approval":
      return parseBody(walletStepUpApprovalSchema, body);
    case "dispute_open":
      return parseBody(disputeOpenSchema, body);
    default:
      throw new TapwireError(`wallets cannot send ${JSON.stringify(type)}`, ErrorCode.UnsupportedRequest);
  }
}

/**
 * A closed mandate: checked with the key its open mandate names (cnf), not with the agent's certificate
 * key, because the person authorised that key and no other to spend.
 */
function admitAgent(inbound: Inbound, reading: UnverifiedReading, deps: AdmissionDeps): Admission {
  let parts: Sign1Parts | undefined;
  let summary: RequestSummary | undefined;
  try {
    parts = reading.envelope();
    summary = describeUnverified(parts.payload, inbound);
    const unverified = reading.body();
    if (bodyField(unverified, "type") !== "agent_payment") {
      throw new TapwireError("agents can only send agent_payment", ErrorCode.UnsupportedRequest);
    }
    deps.registry.getActiveAgent(inbound.id);
    const mandateId = bodyField(unverified, "mandateId");
    const mandate = typeof mandateId === "string" && isId(mandateId) ? deps.mandates.findMandate(mandateId) : undefined;
    if (!mandate) throw new TapwireError(`no mandate ${String(mandateId)}`, ErrorCode.UnknownMandate);
    if (mandate.agentId !== inbound.id) {
      throw new TapwireError(`mandate ${mandate.mandateId} is for agent ${mandate.agentId}, not ${inbound.id}`, ErrorCode.AgentKeyMismatch);
    }
    let opened;
    try {
      opened = openMessage(parts, importAgentKey(mandate.agentKey), agentPaymentSchema);
    } catch (error) {
      if (isTapwireError(error, ErrorCode.BadSignature)) {
        throw new TapwireError(`closed mandate not signed by the key mandate ${mandate.mandateId} names`, ErrorCode.AgentKeyMismatch);
      }
      throw error;
    }
    const { body, hash } = opened;
    if (body.agentId !== inbound.id) {
      throw new TapwireError(`body names agent ${body.agentId}, topic is agent ${inbound.id}`, ErrorCode.AgentKeyMismatch);
    }
    summary = { principalKind: "agent", hubId: inbound.id, requestId: body.requestId, requestType: body.type, requestHash: hash };
    return { outcome: "agent_payment", agentId: inbound.id, payment: body, hash, closedHash: sha256(inbound.payload), summary, bytes: inbound.payload, reading };
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return refused(error, summary ?? describeUnverified(parts?.payload, inbound), inbound);
  }
}

function bodyField(body: unknown, field: string): unknown {
  return typeof body === "object" && body !== null ? (body as Record<string, unknown>)[field] : undefined;
}

/** The `type` of a message before its key is known (it decides which key and schema apply). */
function unverifiedType(reading: UnverifiedReading): unknown {
  try {
    return bodyField(reading.body(), "type");
  } catch {
    return undefined;
  }
}

export type Admitted = Exclude<Admission, { outcome: "refused" }>;

/** Who sent an admitted message and hears its answer: the wallet for a tag payment, as it is the one waiting. */
export function senderOf(admitted: Admitted): Recipient {
  switch (admitted.outcome) {
    case "hub_request":
      return { kind: "hub", id: admitted.hubId };
    case "wallet_tag":
    case "wallet_request":
      return { kind: "wallet", id: admitted.walletId };
    case "agent_payment":
      return { kind: "agent", id: admitted.agentId };
  }
}
