import { writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { makeDirectories } from "../core/data-dir.ts";
import { dataDirFlag, withAdmin } from "./admin.ts";
import { integerFlag, parseFlags, requireFlag } from "./args.ts";

export const privacyUsage = `tapwire privacy export --person WALLET [--out FILE] [--data-dir .tapwire]
  Everything held about a person (their wallet id) as JSON: wallet, glasses, consents, mandates, payments,
  transfers, review cases, evidence with personal fields decrypted (marked shredded where erased).
  example: tapwire privacy export --person w1 --out w1.json
tapwire privacy erase --person WALLET [--operator NAME] [--data-dir .tapwire]
  Destroys the person's data keys, withdraws their consents (glasses removed, mandates revoked), clears their
  review context, revokes the wallet and records the erase as evidence; money records stay. Twice: says so.
  example: tapwire privacy erase --person w1 --operator alice
tapwire privacy consents --person WALLET [--data-dir .tapwire]
  example: tapwire privacy consents --person w1
tapwire privacy withdraw --consent-id N [--operator NAME] [--data-dir .tapwire]
  Withdrawing voiceprint consent removes the glasses enrolment; withdrawing mandate consent revokes the mandate.
  example: tapwire privacy withdraw --consent-id 3`;

const operatorFlag = { operator: { type: "string", default: process.env["USER"] ?? "operator" } } as const;

export async function privacyExportCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, person: { type: "string" }, out: { type: "string" } });
  const person = requireFlag(values.person, "person");
  const exported = await withAdmin(values["data-dir"], (service) => service.exportPerson(person));
  const text = `${JSON.stringify(exported, null, 2)}\n`;
  if (values.out === undefined) {
    process.stdout.write(text);
    return 0;
  }
  makeDirectories(dirname(values.out), { mode: 0o700, what: "--out folder" });
  await writeFile(values.out, text, { mode: 0o600 });
  process.stdout.write(`${exported.evidence.length} evidence rows, ${exported.transfers.length} transfers and ${exported.consents.length} consents of ${person} written to ${values.out}\n`);
  return 0;
}

export async function privacyEraseCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, ...operatorFlag, person: { type: "string" } });
  const person = requireFlag(values.person, "person");
  const result = await withAdmin(values["data-dir"], (service) => service.erasePerson(person, `operators/${values.operator}`));
  if (result.alreadyErased) {
    process.stdout.write(`${person} already erased at ${new Date(result.erasedAtMs).toISOString()} (evidence #${result.evidenceSeq})\n`);
    return 0;
  }
  process.stdout.write(
    `${person} erased (evidence #${result.evidenceSeq}): ${result.keysShredded} data keys destroyed, ${result.consentsWithdrawn} consents withdrawn, ` +
      `${result.mandatesRevoked} more mandates revoked, ${result.glassesRemoved} more glasses removed, ${result.reviewCasesCleared} review contexts cleared; money records kept\n`,
  );
  return 0;
}

export async function privacyConsentsCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, person: { type: "string" } });
  const person = requireFlag(values.person, "person");
  const consents = await withAdmin(values["data-dir"], (service) => service.consentsOf(person));
  for (const c of consents) {
    const state = c.withdrawnAtMs === undefined ? "given" : `withdrawn ${new Date(c.withdrawnAtMs).toISOString()} by ${c.withdrawnBy}`;
    process.stdout.write(`${[c.consentId, c.purpose, c.subject, c.textVersion, new Date(c.givenAtMs).toISOString(), c.signature ? "signed" : "unsigned", state].join("\t")}\n`);
  }
  return 0;
}

export async function privacyWithdrawCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, ...operatorFlag, "consent-id": { type: "string" } });
  const consentId = integerFlag(values["consent-id"], "consent-id", 1, Number.MAX_SAFE_INTEGER);
  const { consent, withdrawn } = await withAdmin(values["data-dir"], (service) => service.withdrawConsent(consentId, `operators/${values.operator}`));
  process.stdout.write(withdrawn ? `consent ${consentId} (${consent.purpose} ${consent.subject}) withdrawn\n` : `consent ${consentId} was already withdrawn\n`);
  return 0;
}
