import { writeFile } from "node:fs/promises";
import { makeDirectories } from "../core/data-dir.ts";
import { dirname } from "node:path";
import { exportEvidence, requireValidEvidence, verifyEvidenceBundle, type EvidenceBundle } from "../broker/evidence/verify-evidence.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { importPublicPem } from "../protocol/keys.ts";
import { dataDirFlag, serviceKeyOf, withAdmin } from "./admin.ts";
import { parseFlags, readFlagFile, requireFlag } from "./args.ts";

export const evidenceUsage = `tapwire evidence export --out FILE [--data-dir .tapwire]
  example: tapwire evidence export --out evidence.json
tapwire evidence verify [--bundle FILE [--service-key service.pub.pem]] [--data-dir .tapwire]
  Checks offline that every decision is signed by the service, answers a stored request, and that the
  ledger's transfers are exactly the approved receipts; exit 1 with the findings otherwise.
  example: tapwire evidence verify --bundle evidence.json --service-key .tapwire/hubs/h1/service.pub.pem`;

export async function evidenceExportCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, out: { type: "string" } });
  const out = requireFlag(values.out, "out");
  const bundle = await withAdmin(values["data-dir"], (service) => exportEvidence(service.database));
  makeDirectories(dirname(out), { mode: 0o755, what: "--out folder" });
  await writeFile(out, JSON.stringify(bundle));
  process.stdout.write(`${bundle.rows.length} evidence rows and ${bundle.transfers.length} transfers written to ${out}\n`);
  return 0;
}

function parseBundle(text: string, path: string): EvidenceBundle {
  try {
    return JSON.parse(text) as EvidenceBundle;
  } catch (error) {
    throw new TapwireError(`--bundle ${path} is not JSON: ${(error as Error).message}`, ErrorCode.ConfigInvalid, { path });
  }
}

export async function evidenceVerifyCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, bundle: { type: "string" }, "service-key": { type: "string" } });
  const key = values["service-key"] ? importPublicPem((await readFlagFile(values["service-key"], "service-key")).toString("utf8")) : await serviceKeyOf(values["data-dir"]);
  const report = values.bundle
    ? verifyEvidenceBundle(parseBundle((await readFlagFile(values.bundle, "bundle")).toString("utf8"), values.bundle), key)
    : await withAdmin(values["data-dir"], (service) => service.verifyEvidence());
  process.stdout.write(
    `${report.rows} rows: ${report.requests} requests, ${report.decisions} decisions, ${report.operatorActions} operator actions; ${report.transfers} transfers, ${report.receipts} receipts\n`,
  );
  for (const problem of report.problems) process.stdout.write(`  ${problem}\n`);
  requireValidEvidence(report);
  process.stdout.write("evidence ok\n");
  return 0;
}
