import { createPublicKey, type KeyObject } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { enrollAgent, type EnrolmentBundle } from "../broker/enrolment.ts";
import { exportEvidence, requireValidEvidence, verifyEvidenceBundle, type EvidenceBundle } from "../broker/evidence/verify-evidence.ts";
import { loadOrCreateOperatorPki } from "../broker/operator-pki.ts";
import type { ReviewCase } from "../broker/review/review-store.ts";
import { SettlementService } from "../broker/settlement/settlement-service.ts";
import { openSealed } from "../protocol/envelope.ts";
import { importPublicPem } from "../protocol/keys.ts";
import { ErrorCode, TapwireError, errorCodeName } from "../protocol/errors.ts";
import { decisionSchema } from "../protocol/messages.ts";
import { caseKinds, caseStatuses, type CaseKind, type CaseStatus, type OperatorAction } from "../protocol/review.ts";
import { systemClock, systemRandom } from "../protocol/sources.ts";
import { parseFlags, requireFlag } from "./args.ts";

export const reviewUsage = `tapwire review list [--status pending|approved|declined|expired] [--kind step_up|human_review|dispute] [--data-dir DIR]
tapwire review show CASE [--data-dir DIR]
  A case with everything the operator decides on: utterance, product, mandate, risk signals, amount.
tapwire review approve|decline CASE [--operator NAME] [--data-dir DIR]
  Applies once (E908 ReviewAlreadyDecided after that). The running node publishes the signed decision.
tapwire dispute list [--data-dir DIR]
tapwire dispute resolve CASE --favour payer|merchant [--operator NAME] [--data-dir DIR]
  In favour of the payer refunds what is left of the payment, once.
tapwire agent enroll --agent-id A [--public-key agent.pub.pem] [--out DIR] [--data-dir DIR]
tapwire mandate register --wallet-id W --file mandate.cose [--data-dir DIR]
  Registers an open mandate the wallet signed (COSE_Sign1 bytes), as if the wallet had sent it.
tapwire evidence export --out FILE [--data-dir DIR]
tapwire evidence verify [--bundle FILE [--service-key service.pub.pem]] [--data-dir DIR]
  Checks offline that every decision is signed by the service, answers a stored request, and that the
  ledger's transfers are exactly the approved receipts; exit 1 with the findings otherwise.`;

const dataDirFlag = { "data-dir": { type: "string", default: ".tapwire" } } as const;

/** Opens the settlement database of a data directory (works while `tapwire settle` runs: SQLite WAL). */
async function withService<T>(dataDir: string, work: (service: SettlementService) => Promise<T> | T): Promise<T> {
  const pki = await loadOrCreateOperatorPki(dataDir, systemClock, systemRandom);
  const service = new SettlementService({ databasePath: join(dataDir, "ledger.sqlite"), serviceKey: pki.serviceSigningKey, clock: systemClock });
  await service.start();
  try {
    return await work(service);
  } finally {
    await service.stop();
  }
}

function caseLine(c: ReviewCase): string {
  const amount = c.context["amount"] ?? "";
  return [c.caseId, c.kind, c.status, `${c.requesterKind}s/${c.requesterId}`, c.requestId, amount, c.reason].join("\t");
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], name: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new TapwireError(`--${name} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`, ErrorCode.ConfigInvalid);
  }
  return value as T;
}

function listCommand(kind: CaseKind | undefined) {
  return async (argv: string[]): Promise<number> => {
    const { values } = parseFlags(argv, { ...dataDirFlag, status: { type: "string" }, kind: { type: "string" } });
    const status = oneOf<CaseStatus>(values.status, caseStatuses, "status");
    const filterKind = kind ?? oneOf<CaseKind>(values.kind, caseKinds, "kind");
    const cases = await withService(values["data-dir"], (service) =>
      service.listReviews({ ...(status ? { status } : {}), ...(filterKind ? { kind: filterKind } : {}) }),
    );
    for (const c of cases) process.stdout.write(`${caseLine(c)}\n`);
    return 0;
  };
}

export const reviewListCommand = listCommand(undefined);
export const disputeListCommand = listCommand("dispute");

export async function reviewShowCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, dataDirFlag);
  const caseId = requireFlag(positionals[0], "case (positional)");
  const found = await withService(values["data-dir"], (service) => service.findReview(caseId));
  if (!found) throw new TapwireError(`no case ${caseId}`, ErrorCode.ReviewNotFound);
  const shown = { ...found, requestHash: Buffer.from(found.requestHash).toString("hex") };
  process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
  return 0;
}

async function decide(argv: string[], action: (values: Record<string, string | undefined>) => OperatorAction): Promise<number> {
  const { values, positionals } = parseFlags(argv, { ...dataDirFlag, operator: { type: "string", default: process.env["USER"] ?? "operator" }, favour: { type: "string" } });
  const caseId = requireFlag(positionals[0], "case (positional)");
  const chosen = action(values);
  const pushes = await withService(values["data-dir"], (service) => service.decideReview(caseId, chosen, values.operator));
  const key = await serviceKeyOf(values["data-dir"]);
  for (const push of pushes) {
    const decision = openSealed(push.payload, key, decisionSchema).body;
    const outcome = decision.status === "approved" ? "approved" : `${decision.status} (E${decision.code} ${errorCodeName(decision.code)})`;
    process.stdout.write(`${caseId}: ${outcome}; decision for ${push.kind}s/${push.id} queued for publishing\n`);
  }
  return 0;
}

async function serviceKeyOf(dataDir: string): Promise<KeyObject> {
  const pki = await loadOrCreateOperatorPki(dataDir, systemClock, systemRandom);
  return createPublicKey(pki.serviceSigningKey);
}

export const reviewApproveCommand = (argv: string[]) => decide(argv, () => "approve");
export const reviewDeclineCommand = (argv: string[]) => decide(argv, () => "decline");
export const disputeResolveCommand = (argv: string[]) =>
  decide(argv, (values) => (oneOf(requireFlag(values["favour"], "favour"), ["payer", "merchant"] as const, "favour") === "payer" ? "approve" : "decline"));

export async function agentEnrollCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "agent-id": { type: "string" }, "public-key": { type: "string" }, out: { type: "string" } });
  const agentId = requireFlag(values["agent-id"], "agent-id");
  const publicKeyPem = values["public-key"] ? await readFile(values["public-key"], "utf8") : undefined;
  const pki = await loadOrCreateOperatorPki(values["data-dir"], systemClock, systemRandom);
  const bundle = await withService(values["data-dir"], (service) =>
    enrollAgent({ pki, registry: service.registry, clock: systemClock, random: systemRandom }, service.agents, { agentId, ...(publicKeyPem ? { publicKeyPem } : {}) }),
  );
  const outDir = values.out ?? join(values["data-dir"], "agents", agentId);
  await writeBundle(outDir, bundle);
  process.stdout.write(`agent ${agentId} enrolled; credentials in ${outDir}\n`);
  return 0;
}

async function writeBundle(outDir: string, bundle: EnrolmentBundle): Promise<void> {
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  await writeFile(join(outDir, "cert.pem"), bundle.certPem);
  await writeFile(join(outDir, "ca.pem"), bundle.caPem);
  await writeFile(join(outDir, "service.pub.pem"), bundle.servicePublicKeyPem);
  if (bundle.keyPem) await writeFile(join(outDir, "key.pem"), bundle.keyPem, { mode: 0o600 });
}

export async function mandateRegisterCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "wallet-id": { type: "string" }, file: { type: "string" } });
  const walletId = requireFlag(values["wallet-id"], "wallet-id");
  const payload = await readFile(requireFlag(values.file, "file"));
  const answers = await withService(values["data-dir"], (service) => service.handle({ kind: "wallet", id: walletId, payload }));
  const decision = openSealed(answers[0]!.payload, await serviceKeyOf(values["data-dir"]), decisionSchema).body;
  if (decision.status !== "approved") {
    throw new TapwireError(`mandate refused: ${decision.reason}`, decision.code as ErrorCode);
  }
  process.stdout.write(`mandate ${decision.requestId} registered for wallet ${walletId}\n`);
  return 0;
}

export async function evidenceExportCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, out: { type: "string" } });
  const out = requireFlag(values.out, "out");
  const bundle = await withService(values["data-dir"], (service) => exportEvidence(service.database));
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify(bundle));
  process.stdout.write(`${bundle.rows.length} evidence rows and ${bundle.transfers.length} transfers written to ${out}\n`);
  return 0;
}

export async function evidenceVerifyCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, bundle: { type: "string" }, "service-key": { type: "string" } });
  const key = values["service-key"] ? importPublicPem(await readFile(values["service-key"], "utf8")) : await serviceKeyOf(values["data-dir"]);
  const report = values.bundle
    ? verifyEvidenceBundle(JSON.parse(await readFile(values.bundle, "utf8")) as EvidenceBundle, key)
    : await withService(values["data-dir"], (service) => service.verifyEvidence());
  process.stdout.write(
    `${report.rows} rows: ${report.requests} requests, ${report.decisions} decisions, ${report.operatorActions} operator actions; ${report.transfers} transfers, ${report.receipts} receipts\n`,
  );
  for (const problem of report.problems) process.stdout.write(`  ${problem}\n`);
  requireValidEvidence(report);
  process.stdout.write("evidence ok\n");
  return 0;
}

export const reviewCommands: Record<string, (argv: string[]) => Promise<number>> = {
  "review list": reviewListCommand,
  "review show": reviewShowCommand,
  "review approve": reviewApproveCommand,
  "review decline": reviewDeclineCommand,
  "dispute list": disputeListCommand,
  "dispute resolve": disputeResolveCommand,
  "agent enroll": agentEnrollCommand,
  "mandate register": mandateRegisterCommand,
  "evidence export": evidenceExportCommand,
  "evidence verify": evidenceVerifyCommand,
};
