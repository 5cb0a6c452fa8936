import { X509Certificate, type KeyObject } from "node:crypto";
import type { Clock, Random } from "../../core/sources.ts";
import { signRenewalProof } from "../../protocol/cert-renewal.ts";
import { sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { generateP256, privateKeyPem } from "../../protocol/keys.ts";
import { protocolVersion } from "../../protocol/messages.ts";
import type { HubLink } from "../mqtt/hub-link.ts";

/** How long a renewal request may wait for its answer (the CA signs in milliseconds; the link may be busy). */
export const renewalTimeoutMsDefault = 10_000;
const renewalLifetimeMs = 60_000;

export interface RenewedIdentity {
  keyPem: string;
  certPem: string;
}

/**
 * Asks the service, over the hub's own connected link, for a certificate for a key made here: sealed with the
 * current key, with the new key's proof of possession. The answer's certificate must name the new key. The old
 * certificate stays valid until the hub connects with the new one; then the service revokes it.
 */
export async function renewHubCertificate(options: {
  link: HubLink;
  hubId: string;
  currentKey: KeyObject;
  clock: Clock;
  random: Random;
  timeoutMs?: number;
}): Promise<RenewedIdentity> {
  const { link, hubId, clock } = options;
  const next = generateP256();
  const publicKeyDer = next.publicKey.export({ type: "spki", format: "der" });
  const requestId = `renew-${Buffer.from(options.random.bytes(8)).toString("hex")}`;
  const nowMs = clock.nowMs();
  const body = {
    type: "cert_renewal",
    v: protocolVersion,
    hubId,
    requestId,
    iat: nowMs,
    exp: nowMs + renewalLifetimeMs,
    publicKey: publicKeyDer,
    proof: signRenewalProof(hubId, requestId, { privateKey: next.privateKey, publicKeyDer }),
  };
  const { decision } = await link.request(sealMessage(body, options.currentKey), requestId, options.timeoutMs ?? renewalTimeoutMsDefault);
  if (decision.status !== "approved" || decision.certificate === undefined) {
    throw new TapwireError(`certificate renewal refused: ${decision.reason}`, (decision.code || ErrorCode.CertificateInvalid) as ErrorCode, { code: decision.code });
  }
  const issued = new X509Certificate(decision.certificate);
  if (!Buffer.from(issued.publicKey.export({ type: "spki", format: "der" })).equals(publicKeyDer)) {
    throw new TapwireError("the renewed certificate does not name the new key", ErrorCode.CertificateInvalid);
  }
  return { keyPem: privateKeyPem(next.privateKey), certPem: decision.certificate };
}

/** Days until a certificate's notAfter (negative once expired). */
export function daysLeft(certPem: string, nowMs: number): number {
  return (Date.parse(new X509Certificate(certPem).validTo) - nowMs) / 86_400_000;
}
