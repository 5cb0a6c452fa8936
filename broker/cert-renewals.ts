import { createPublicKey } from "node:crypto";
import { logger } from "../core/log.ts";
import type { Clock, Random } from "../core/sources.ts";
import { certRenewalSchema, provenRenewalKey, type CertRenewal } from "../protocol/cert-renewal.ts";
import { decodeBody } from "../protocol/cbor.ts";
import { contract } from "../protocol/contract.ts";
import type { Sign1Parts } from "../protocol/cose.ts";
import { openMessage, readEnvelope, sealMessage } from "../protocol/envelope.ts";
import { ErrorCode, TapwireError, errorCodeName, isTapwireError } from "../protocol/errors.ts";
import { isId } from "../protocol/ids.ts";
import { keyId, publicKeyPem } from "../protocol/keys.ts";
import { protocolVersion, type Decision } from "../protocol/messages.ts";
import type { Inbound, Outbound } from "./decisions/verdicts.ts";
import type { UnverifiedReading } from "./decisions/unverified-reading.ts";
import { certifyPrincipal, type OperatorPki } from "./operator-pki.ts";
import type { SettlementService } from "./settlement/settlement-service.ts";

const log = logger("tapwire:cert-renewal");

/**
 * Whether a hub's message is a certificate renewal (it goes here, not to the settlement pipeline). `reading` is the
 * message's one decoding, which the settlement service goes on with when it is not.
 */
export function isCertRenewal(inbound: Inbound, reading: UnverifiedReading): boolean {
  if (inbound.kind !== "hub") return false;
  try {
    const body = reading.body() as { type?: unknown } | undefined;
    return body?.type === "cert_renewal";
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return false;
  }
}

/**
 * Hub certificates renewed over the hub's own mTLS link: the request is sealed with the hub's current key and
 * proves possession of the new one; the operator CA signs a certificate for it (asynchronously, so outside the
 * settlement batch), which is held as pending; the switch happens when the hub connects with it. A replayed request
 * only issues another certificate for a key the replayer does not hold; after the switch it no longer verifies.
 */
export class CertRenewals {
  constructor(private readonly deps: { service: SettlementService; pki: OperatorPki; clock: Clock; random: Random }) {}

  async handle(inbound: Inbound): Promise<Outbound[]> {
    const nowMs = this.deps.clock.nowMs();
    let parts: Sign1Parts | undefined;
    let opened: { body: CertRenewal; hash: Uint8Array } | undefined;
    try {
      parts = readEnvelope(inbound.payload);
      const hub = this.deps.service.registry.getActiveHub(inbound.id);
      opened = openMessage(parts, createPublicKey(hub.publicKeyPem), certRenewalSchema);
      const newKey = this.check(inbound.id, opened.body, nowMs);
      const { certPem, serialHex } = await certifyPrincipal(this.deps.pki, { kind: "hub", id: inbound.id }, newKey, this.deps.clock, this.deps.random);
      this.deps.service.holdRenewedKey(inbound.id, publicKeyPem(newKey), serialHex);
      log.info({ hubId: inbound.id, serialHex }, "hub certificate renewed; the old one stays valid until the hub connects with the new one");
      return [this.answer(inbound.id, opened.body.requestId, opened.hash, { status: "approved", code: 0, reason: "certificate issued", certificate: certPem }, nowMs)];
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      log.warn({ hubId: inbound.id, code: error.code, codeName: errorCodeName(error.code) }, `certificate renewal refused: ${error.message}`);
      const requestId = opened?.body.requestId ?? unverifiedRequestId(parts);
      return [this.answer(inbound.id, requestId, opened?.hash, { status: "declined", code: error.code, reason: error.message.slice(0, 200) }, nowMs)];
    }
  }

  private check(hubId: string, renewal: CertRenewal, nowMs: number) {
    if (renewal.hubId !== hubId) throw new TapwireError(`renewal names hub ${renewal.hubId}, topic is hub ${hubId}`, ErrorCode.HubMismatch);
    if (renewal.iat > nowMs + contract.clockSkewMs) throw new TapwireError(`renewal iat ${renewal.iat} is ahead of ${nowMs}`, ErrorCode.MessageNotYetValid);
    if (renewal.exp <= nowMs || renewal.exp - renewal.iat > contract.requestLifetimeMsMax) throw new TapwireError("renewal expired or lives too long", ErrorCode.MessageExpired);
    const newKey = provenRenewalKey(renewal);
    if (newKey === undefined) throw new TapwireError("the new key is not P-256 or its proof does not verify", ErrorCode.BadSignature);
    return newKey;
  }

  private answer(hubId: string, requestId: string, hash: Uint8Array | undefined, verdict: Pick<Decision, "status" | "code" | "reason" | "certificate">, nowMs: number): Outbound {
    const expMs = nowMs + contract.requestLifetimeMsMax + contract.clockSkewMs;
    const decision: Decision = {
      type: "decision",
      v: protocolVersion,
      requestId,
      requestType: "cert_renewal",
      requestHash: new Uint8Array(hash ?? new Uint8Array(32)),
      principalKind: "hub",
      hubId,
      iat: nowMs,
      exp: expMs,
      ...verdict,
    };
    const key = this.deps.pki.serviceSigningKey;
    return { kind: "hub", id: hubId, payload: sealMessage(decision, key, keyId(createPublicKey(key))), expiresAtMs: expMs };
  }
}

/**
 * The requestId of a request that did not verify, so its sender (the topic's owner, authenticated by the broker)
 * can match the decline; "" when there is none to read.
 */
function unverifiedRequestId(parts: Sign1Parts | undefined): string {
  if (parts === undefined) return "";
  try {
    const requestId = (decodeBody(parts.payload) as { requestId?: unknown } | undefined)?.requestId;
    return typeof requestId === "string" && isId(requestId) ? requestId : "";
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return "";
  }
}
