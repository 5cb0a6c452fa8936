import type { KeyObject } from "node:crypto";
import { z } from "zod";
import { decodeBase45, encodeBase45 } from "./base45.ts";
import { decodeBody } from "./cbor.ts";
import { contract } from "./contract.ts";
import { decodeSign1 } from "./cose.ts";
import { openMessage, openSealed, sealMessage } from "./envelope.ts";
import { ErrorCode, TapwireError, errorCodeName } from "./errors.ts";
import { idSchema } from "./ids.ts";
import { keyId } from "./keys.ts";
import { agentKeyDer, importAgentKey, openMandateSchema, parseOpenMandate, type OpenMandate } from "./mandates.ts";
import { bodyHash, decisionSchema, parseBody, protocolVersion } from "./messages.ts";

/**
 * AP2's signing request: before a mandate exists, the agent asks the person for one. The request is a COSE_Sign1 by
 * the agent's own key over what it asks (terms) and why (purpose, shown to the person as written), carried to the
 * person's trusted surface as text (`TWM1:` + Base45, for a QR code or a link). The wallet checks the signature with
 * the key the request names, so the open mandate it signs names exactly the key that asked; the person may grant
 * the terms, tighten them, or say no. Nothing reaches the service until the person signs.
 */
export const mandateRequestPrefix = "TWM1:";
/** Longest request text a wallet reads (Base45 of a request with the most merchants and categories). */
export const mandateRequestTextMax = 12_000;

/** The limits an agent asks for: an open mandate's terms without the parties, the key and the signing time. */
export const mandateTermsSchema = openMandateSchema.omit({ type: true, v: true, walletId: true, agentId: true, agentKey: true, iat: true });
/** The limits of an open mandate, as asked for or as granted. */
export type MandateTerms = z.infer<typeof mandateTermsSchema>;

const timestampMs = z.number().int().min(0);
export const mandateRequestSchema = z.strictObject({
  type: z.literal("mandate_request"),
  v: z.literal(protocolVersion),
  agentId: idSchema,
  agentKey: openMandateSchema.shape.agentKey,
  /** What the agent will do with it, in its own words, shown to the person as written. */
  purpose: z.string().min(1).max(280),
  terms: mandateTermsSchema,
  iat: timestampMs,
  exp: timestampMs,
});
/** An agent's request for an open mandate; see mandateRequestSchema. */
export type MandateRequest = z.infer<typeof mandateRequestSchema>;

/** The agent's side: the request, signed with its key, as text for the person's wallet. */
export function issueMandateRequest(input: {
  agentId: string;
  agentKey: KeyObject;
  agentPublicKey: KeyObject;
  purpose: string;
  terms: MandateTerms;
  nowMs: number;
  lifetimeMs?: number;
}): { text: string; request: MandateRequest } {
  const request: MandateRequest = {
    type: "mandate_request",
    v: protocolVersion,
    agentId: input.agentId,
    agentKey: agentKeyDer(input.agentPublicKey),
    purpose: input.purpose,
    terms: input.terms,
    iat: input.nowMs,
    exp: input.nowMs + (input.lifetimeMs ?? contract.mandateRequestLifetimeMsMax),
  };
  checkTerms(parseBody(mandateRequestSchema, request));
  return { text: mandateRequestPrefix + encodeBase45(sealMessage(request, input.agentKey, keyId(input.agentPublicKey))), request };
}

/**
 * The wallet's side: the request, once its signature verifies with the key it names, its terms would make a valid
 * mandate, and it is within its lifetime on the wallet's clock (the agent's may run `skewMs` ahead). SchemaInvalid,
 * BadSignature (forged), MandateInvalid, MessageExpired or MessageNotYetValid.
 */
export function readMandateRequest(text: string, nowMs: number, skewMs: number = contract.clockSkewMs): MandateRequest {
  if (text.length > mandateRequestTextMax || !text.startsWith(mandateRequestPrefix)) {
    throw new TapwireError("not a tapwire mandate request", ErrorCode.SchemaInvalid);
  }
  const parts = decodeSign1(decodeBase45(text.slice(mandateRequestPrefix.length)));
  // The key is inside what it signs: read it unverified, then verify the whole with it.
  const claimed = parseBody(mandateRequestSchema, decodeBody(parts.payload));
  const { body } = openMessage(parts, importAgentKey(claimed.agentKey), mandateRequestSchema);
  if (body.exp < body.iat || body.exp - body.iat > contract.mandateRequestLifetimeMsMax) {
    throw new TapwireError(`mandate request lives ${body.exp - body.iat} ms`, ErrorCode.MandateInvalid, { agentId: body.agentId });
  }
  if (body.iat > nowMs + skewMs) throw new TapwireError("mandate request issued in the future", ErrorCode.MessageNotYetValid, { agentId: body.agentId });
  if (body.exp < nowMs) throw new TapwireError("mandate request expired", ErrorCode.MessageExpired, { agentId: body.agentId });
  checkTerms(body);
  return body;
}

/** The open mandate a wallet signs for a request: the terms granted (the asked ones, or the person's own). */
export function mandateFor(request: MandateRequest, walletId: string, terms: MandateTerms, nowMs: number): OpenMandate {
  return parseOpenMandate({
    type: "open_mandate",
    v: protocolVersion,
    walletId,
    agentId: request.agentId,
    agentKey: request.agentKey,
    iat: nowMs,
    ...terms,
  });
}

/** What the person's wallet hands back to the agent: the open mandate it signed and the service's decision registering it. */
export interface MandateGrant {
  /** The open mandate, COSE_Sign1 by the wallet's key. */
  mandate: Uint8Array;
  /** The service's decision on it, COSE_Sign1 by the service's key. */
  decision: Uint8Array;
}

/**
 * The agent's check of a grant: the decision is the service's (its key), approved, and answers exactly this mandate
 * (its request hash); the mandate names this agent and its key. Resolves the terms the person granted.
 * BadSignature, or MandateInvalid (its context holds the service's code when the service refused the mandate).
 */
export function verifyMandateGrant(grant: MandateGrant, expected: { agentId: string; agentPublicKey: KeyObject; servicePublicKey: KeyObject }): OpenMandate {
  const { body: decision } = openSealed(grant.decision, expected.servicePublicKey, decisionSchema);
  const payload = decodeSign1(grant.mandate).payload;
  const mandate = parseOpenMandate(decodeBody(payload));
  if (!Buffer.from(decision.requestHash).equals(bodyHash(payload)) || decision.requestId !== mandate.mandateId) {
    throw new TapwireError("the decision does not answer this mandate", ErrorCode.MandateInvalid, { mandateId: mandate.mandateId });
  }
  if (decision.status !== "approved") {
    throw new TapwireError(`mandate ${mandate.mandateId} refused by the service: ${errorCodeName(decision.code)} ${decision.reason}`, ErrorCode.MandateInvalid, {
      mandateId: mandate.mandateId,
      decisionCode: decision.code,
    });
  }
  if (mandate.agentId !== expected.agentId || !Buffer.from(mandate.agentKey).equals(agentKeyDer(expected.agentPublicKey))) {
    throw new TapwireError(`mandate ${mandate.mandateId} is for another agent or key`, ErrorCode.MandateInvalid, { mandateId: mandate.mandateId });
  }
  return mandate;
}

/** Terms that could never be granted as asked are refused before the person sees them. */
function checkTerms(request: MandateRequest): void {
  mandateFor(request, "check", request.terms, request.iat);
}
