import type { Clock } from "../core/sources.ts";
import type { OperatorPki } from "./operator-pki.ts";
import type { SettlementService } from "./settlement/settlement-service.ts";
import { issueCrl } from "./pki/certificates.ts";

/** A CRL says when to fetch the next one; a day, so a broker that is not told again still reloads daily. */
export const crlLifetimeMs = 24 * 3600 * 1000;

/**
 * The operator CA's CRL for an external broker (Mosquitto's `crlfile`): rotated-out certificates and those of
 * revoked hubs, agents and operators. The embedded broker needs none: it asks the registry at every connect.
 */
export async function operatorCrl(service: SettlementService, pki: OperatorPki, clock: Clock): Promise<{ pem: string; serials: number }> {
  const registry = service.registry;
  const entries = [
    ...service.revokedCertificates.list().map((entry) => ({ serialHex: entry.serialHex, revokedAtMs: entry.revokedAtMs })),
    ...registry.listHubs().flatMap((hub) => (hub.revokedAtMs === undefined ? [] : [{ serialHex: hub.certificateSerial, revokedAtMs: hub.revokedAtMs }])),
    ...registry.listAgents().flatMap((agent) => (agent.revokedAtMs === undefined ? [] : [{ serialHex: agent.certificateSerial, revokedAtMs: agent.revokedAtMs }])),
    ...service.operators.list().flatMap((operator) => (operator.revokedAtMs === undefined ? [] : [{ serialHex: operator.certificateSerial, revokedAtMs: operator.revokedAtMs }])),
  ];
  const nowMs = clock.nowMs();
  const pem = await issueCrl(pki.ca, entries, { notBeforeMs: nowMs, notAfterMs: nowMs + crlLifetimeMs });
  return { pem, serials: entries.length };
}
