import { join } from "node:path";
import { enrollProvider } from "../broker/enrolment.ts";
import { dataDirFlag, enrolmentContext, makeBundleDir, withAdmin, writeBundle } from "./admin.ts";
import { parseFlags, readFlagFile, requireFlag } from "./args.ts";

export const providerUsage = `tapwire provider enroll --provider-id P --currency JPY [--public-key provider.pub.pem] [--out DIR] [--data-dir .tapwire]
  A wallet provider (another wallet operator, CN providers/P) with its home currency: the service asks it, signed,
  to authorize its wallets' payments and posts them on its signed approval (tapwire wallet enroll --provider P).
  Without --public-key a key pair is generated. Writes cert, key, CA and the service's public key to --out.
  example: tapwire provider enroll --provider-id jp-pay --currency JPY
tapwire provider list [--data-dir .tapwire]
  One provider a line: id, currency, status.
  example: tapwire provider list`;

export async function providerEnrollCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "provider-id": { type: "string" }, currency: { type: "string" }, "public-key": { type: "string" }, out: { type: "string" } });
  const providerId = requireFlag(values["provider-id"], "provider-id");
  const currency = requireFlag(values.currency, "currency");
  const outDir = values.out ?? join(values["data-dir"], "providers", providerId);
  const publicKeyPem = values["public-key"] ? (await readFlagFile(values["public-key"], "public-key")).toString("utf8") : undefined;
  const bundle = await withAdmin(
    values["data-dir"],
    (service, pki) => {
      makeBundleDir(outDir);
      return enrollProvider(enrolmentContext(service, pki), service.providers, { providerId, currency, ...(publicKeyPem ? { publicKeyPem } : {}) });
    },
    "create",
  );
  await writeBundle(outDir, bundle);
  process.stdout.write(`provider ${providerId} enrolled (${currency}); certificate and keys in ${outDir}\n`);
  return 0;
}

export async function providerListCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag });
  const providers = await withAdmin(values["data-dir"], (service) => service.providers.list());
  for (const p of providers) process.stdout.write(`${p.providerId} ${p.currency} ${p.status}\n`);
  if (providers.length === 0) process.stdout.write("no providers enrolled\n");
  return 0;
}
