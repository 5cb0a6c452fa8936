import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { operatorCrl } from "../broker/crl.ts";
import { systemClock } from "../core/sources.ts";
import { dataDirFlag, withAdmin } from "./admin.ts";
import { parseFlags } from "./args.ts";

export const pkiUsage = `tapwire pki crl [--out DATA_DIR/pki/crl.pem] [--data-dir .tapwire]
  Writes the operator CA's certificate revocation list (rotated-out certificates, revoked hubs, agents and
  operators) for an external broker: \`tapwire mosquitto-config\`'s crlfile. Valid a day; run it after each
  revocation and daily (the embedded broker needs none: it asks the registry at every connect); Mosquitto reloads
  it on SIGHUP.
  example: tapwire pki crl --data-dir .tapwire --out /etc/mosquitto/tapwire/crl.pem`;

export async function pkiCrlCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, out: { type: "string" } });
  const out = values.out ?? join(values["data-dir"], "pki", "crl.pem");
  const { pem, serials } = await withAdmin(values["data-dir"], (service, pki) => operatorCrl(service, pki, systemClock));
  await writeFile(out, pem, { mode: 0o644 });
  process.stdout.write(`CRL with ${serials} revoked certificate${serials === 1 ? "" : "s"} in ${out}\n`);
  return 0;
}
