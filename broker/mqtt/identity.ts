import type { PeerCertificate } from "node:tls";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { parsePrincipalName, principalName, type Principal } from "../../protocol/topics.ts";

/**
 * A client id is the principal's name, optionally followed by `@instance` (service workers each need their own).
 * Binding the id to the certificate stops one principal from taking over another's session: a broker closes
 * the older connection when a second one arrives with the same id [MQTT-3.1.4-2].
 */
export function clientIdFor(principal: Principal, instance?: string): string {
  const name = principalName(principal);
  if (instance === undefined) return name;
  if (!isId(instance)) throw new TapwireError(`instance ${JSON.stringify(instance)} is not an id`, ErrorCode.ClientIdMismatch);
  return `${name}@${instance}`;
}

export function clientIdBelongsTo(clientId: string, principal: Principal): boolean {
  const name = principalName(principal);
  if (clientId === name) return true;
  return clientId.startsWith(`${name}@`) && isId(clientId.slice(name.length + 1));
}

/** The principal named by a verified peer certificate's CN, or a TapwireError saying why there is none. */
export function principalFromCertificate(certificate: PeerCertificate | undefined): Principal | TapwireError {
  if (certificate === undefined || Object.keys(certificate).length === 0) {
    return new TapwireError("no client certificate", ErrorCode.NoClientCertificate);
  }
  const commonName = certificate.subject?.CN;
  const principal = typeof commonName === "string" ? parsePrincipalName(commonName) : undefined;
  if (principal === undefined) {
    return new TapwireError("client certificate CN is not a principal name", ErrorCode.CertificateInvalid, {
      commonName,
      serial: certificate.serialNumber,
    });
  }
  return principal;
}
