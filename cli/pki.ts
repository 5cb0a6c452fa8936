import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { issueCrl, type RevokedSerial } from "../broker/pki/certificates.ts";
import { systemClock } from "../core/sources.ts";
import { dataDirFlag, withAdmin } from "./admin.ts";
import { integerFlag, parseFlags, requireFlag } from "./args.ts";

const dayMs = 86_400_000;

export const pkiUsage = `tapwire pki crl --out FILE [--data-dir .tapwire] [--valid-days 30]
  Writes the operator CA's revocation list (PEM) of every revoked hub's and agent's certificate, for Mosquitto's
  crlfile (tapwire mosquitto-config --crl FILE): a revoked client is then refused at the TLS handshake. Write it
  again after each revocation and before it expires, then send Mosquitto SIGHUP to reload it.
  example: tapwire pki crl --data-dir .tapwire --out /etc/mosquitto/tapwire/crl.pem`;

export async function pkiCrlCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, out: { type: "string" }, "valid-days": { type: "string" } });
  const out = resolve(requireFlag(values.out, "out"));
  const validMs = integerFlag(values["valid-days"], "valid-days", 1, 365, 30) * dayMs;
  const { crlPem, count } = await withAdmin(values["data-dir"], async (service, pki) => {
    const revoked: RevokedSerial[] = [
      ...service.registry.listHubs().map((hub) => ({ status: hub.status, serialHex: hub.certificateSerial, revokedAtMs: hub.revokedAtMs })),
      ...service.registry.listAgents().map((agent) => ({ status: agent.status, serialHex: agent.certificateSerial, revokedAtMs: agent.revokedAtMs })),
    ].flatMap((entry) => (entry.status === "revoked" && entry.revokedAtMs !== undefined ? [{ serialHex: entry.serialHex, revokedAtMs: entry.revokedAtMs }] : []));
    const nowMs = systemClock.nowMs();
    return { crlPem: await issueCrl(pki.ca, revoked, { thisUpdateMs: nowMs, nextUpdateMs: nowMs + validMs }), count: revoked.length };
  });
  await writeFile(out, crlPem, { mode: 0o644 });
  process.stdout.write(`wrote ${out}: ${count} revoked certificate(s)\n`);
  return 0;
}
