import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { rotateHub } from "../broker/enrolment.ts";
import { dataDirFlag, enrolmentContext, withAdmin, writeBundle } from "./admin.ts";
import { parseFlags, requireFlag } from "./args.ts";

export const hubRegistryUsage = `tapwire hub list [--data-dir .tapwire]
  example: tapwire hub list --data-dir .tapwire
tapwire hub revoke --hub-id H [--data-dir .tapwire]
  A revoked hub is refused at its next connect and on every message, including ones already queued; a running
  \`tapwire settle\` also drops its connection within a second.
  example: tapwire hub revoke --hub-id h1
tapwire hub rotate --config hub.json [--within-days 30 | --force]
  On the hub: a new key and a certificate for it over the hub's own mTLS link, when the current one expires within
  --within-days; written over broker.keyFile and broker.certFile (the old ones kept as .old). The old certificate
  works until the hub connects with the new one; then the service revokes it.
  example: tapwire hub rotate --config /etc/tapwire/hub.json
tapwire hub rotate --hub-id H [--public-key hub.pub.pem] [--out DIR] [--data-dir .tapwire]
  A new certificate for the hub's new key (its own with --public-key, else one made here and written to DIR,
  default DATA_DIR/hubs/H). From then on its requests verify only with the new key and the broker refuses the old
  certificate at connect (its serial is on the revoked list). Install the new files on the hub and restart it.
  example: tapwire hub rotate --hub-id h1 --data-dir .tapwire`;

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

/** The operator's rotation (`hub rotate --hub-id`); hub-rotate.ts sends `--config` to the hub's own renewal. */
export async function hubRotateCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "hub-id": { type: "string" }, "public-key": { type: "string" }, out: { type: "string" } });
  const hubId = requireFlag(values["hub-id"], "hub-id");
  const publicKeyPem = values["public-key"] ? await readFile(values["public-key"], "utf8") : undefined;
  const bundle = await withAdmin(values["data-dir"], (service, pki) => rotateHub(enrolmentContext(service, pki), service, { hubId, ...(publicKeyPem ? { publicKeyPem } : {}) }));
  const outDir = values.out ?? join(values["data-dir"], "hubs", hubId);
  await writeBundle(outDir, bundle);
  process.stdout.write(`hub ${hubId} rotated; new certificate${bundle.keyPem ? " and key" : ""} in ${outDir}; the old certificate is revoked\n`);
  return 0;
}
