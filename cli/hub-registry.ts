import { dataDirFlag, withAdmin } from "./admin.ts";
import { parseFlags, requireFlag } from "./args.ts";

export const hubRegistryUsage = `tapwire hub list [--data-dir .tapwire]
  example: tapwire hub list --data-dir .tapwire
tapwire hub revoke --hub-id H [--data-dir .tapwire]
  A revoked hub is refused at its next connect and on every message, including ones already queued; a running
  \`tapwire settle\` also drops its connection within a second.
  example: tapwire hub revoke --hub-id h1`;

export async function hubListCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag });
  const hubs = await withAdmin(values["data-dir"], (service) => service.registry.listHubs());
  for (const hub of hubs) {
    const enrolled = new Date(hub.enrolledAtMs).toISOString();
    const revoked = hub.revokedAtMs === undefined ? "" : ` revoked ${new Date(hub.revokedAtMs).toISOString()}`;
    process.stdout.write(`${hub.hubId}\tmerchant ${hub.merchantId}\t${hub.status}\tseq ${hub.lastSeq}\tcert ${hub.certificateSerial}\tenrolled ${enrolled}${revoked}\n`);
  }
  if (hubs.length === 0) process.stdout.write("no hubs enrolled\n");
  return 0;
}

export async function hubRevokeCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "hub-id": { type: "string" } });
  const hubId = requireFlag(values["hub-id"], "hub-id");
  await withAdmin(values["data-dir"], (service) => service.registry.revokeHub(hubId));
  process.stdout.write(`hub ${hubId} revoked\n`);
  return 0;
}
