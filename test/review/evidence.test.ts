import { afterEach, beforeEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { EvidenceStore, evidenceRowHash } from "../../broker/evidence/evidence-store.ts";
import { sha256 } from "../../protocol/bytes.ts";
import { exportEvidence, requireValidEvidence, verifyEvidenceBundle, verifyEvidenceDb, type EvidenceBundle } from "../../broker/evidence/verify-evidence.ts";
import { AgentFixture, disputeOpen, stepUpAnswer } from "../agents/fixtures.ts";

let a: AgentFixture;
beforeEach(async () => {
  a = await AgentFixture.create();
  await a.registerMandate();
  const hubPaid = await a.f.decisionFor(a.f.hub, a.f.hub.paymentRequest(a.f.wallet, 1_000).bytes);
  const first = a.agent.payment("mandate-1", 600);
  await a.fromAgent(first.bytes);
  await a.fromAgent(first.bytes);
  await a.fromAgent(a.agent.payment("mandate-1", 600, { context: { ambiguous: "true" } }).bytes).then((d) => a.service.decideReview(d.caseId!, "approve", "alice"));
  const held = await a.fromAgent(a.agent.payment("mandate-1", 2_500).bytes);
  await a.fromWallet(a.f.wallet, stepUpAnswer(a.f.wallet, a.f.clock, held.caseId!, "approve"));
  await a.fromAgent(a.agent.payment("mandate-1", 4_000).bytes);
  const dispute = await a.fromWallet(a.f.wallet, disputeOpen(a.f.wallet, a.f.clock, hubPaid.receipt!.paymentId));
  a.service.decideReview(dispute.caseId!, "approve", "alice");
  await a.f.decisionFor(a.f.hub, a.f.hub.refund("nope", 10, "EUR").bytes);
});
afterEach(async () => {
  await a.close();
});

function roundTrip(bundle: EvidenceBundle): EvidenceBundle {
  return JSON.parse(JSON.stringify(bundle)) as EvidenceBundle;
}

describe("evidence", () => {
  it("verifies offline: every decision signed, answering a stored request, and every transfer backed by an approved receipt", async () => {
    const live = a.service.verifyEvidence();
    const bundle = roundTrip(exportEvidence(a.service.database));
    await a.service.stop();
    const file = new Database(a.f.databasePath, { readonly: true });
    const offline = verifyEvidenceDb(file, a.f.serviceKeys.publicKey);
    file.close();

    const fromBundle = verifyEvidenceBundle(bundle, a.f.serviceKeys.publicKey);

    expect(live).toMatchObject({ ok: true, problems: [] });
    expect(live.operatorActions).toBe(2);
    expect(live.transfers).toBe(5);
    expect(live.receipts).toBe(5);
    const decisions = bundle.rows.filter((r) => r.kind === "decision").map((r) => a.f.open(Buffer.from(r.bytesBase64, "base64")));
    expect(decisions.some((d) => d.code === ErrorCode.MandateReplayed)).toBe(true);
    expect(offline).toEqual(live);
    expect(fromBundle).toEqual(live);
  });

  it("refuses UPDATE and DELETE on evidence through the database", () => {
    expect(() => a.service.database.prepare("DELETE FROM evidence WHERE seq = 1").run()).toThrow(/append-only/);
    expect(() => a.service.database.prepare("UPDATE evidence SET principal = 'x' WHERE seq = 1").run()).toThrow(/append-only/);
  });

  it("detects a tampered decision row, even with its hash recomputed", () => {
    const db = a.service.database;
    const row = new EvidenceStore(db).page(0, 100).filter((r) => r.kind === "decision")[2]!;
    const forged = Buffer.from(row.bytes);
    forged.writeUInt8(forged.readUInt8(forged.length - 1) ^ 0x01, forged.length - 1);
    const bytesHash = sha256(forged);
    db.exec("DROP TRIGGER evidence_no_update");
    db.prepare("UPDATE evidence SET bytes = ?, bytes_hash = ?, row_hash = ? WHERE seq = ?").run(forged, bytesHash, evidenceRowHash({ ...row, bytesHash }), row.seq);

    const report = a.service.verifyEvidence();

    expect(report.ok).toBe(false);
    expect(report.problems.join("\n")).toMatch(new RegExp(`#${row.seq + 1}: chain broken`));
    expect(report.problems.join("\n")).toMatch(new RegExp(`#${row.seq}: decision does not verify`));
    expect(() => requireValidEvidence(report)).toThrow(TapwireError);
    try {
      requireValidEvidence(report);
    } catch (error) {
      expect((error as TapwireError).code).toBe(ErrorCode.EvidenceInvalid);
    }
  });

  it("detects a removed row, a transfer no decision approved, and a key that is not the service's", () => {
    const bundle = roundTrip(exportEvidence(a.service.database));
    const missing = { ...bundle, rows: bundle.rows.filter((r) => r.seq !== 4) };
    const extraMoney = {
      ...bundle,
      transfers: [...bundle.transfers, { ...bundle.transfers[bundle.transfers.length - 1]!, transferId: 999, amountMinor: 1 }],
    };

    const withoutRow = verifyEvidenceBundle(missing, a.f.serviceKeys.publicKey);
    const withExtra = verifyEvidenceBundle(extraMoney, a.f.serviceKeys.publicKey);
    const wrongKey = verifyEvidenceBundle(bundle, generateP256().publicKey);

    expect(withoutRow.problems.some((p) => p.includes("chain broken"))).toBe(true);
    expect(withExtra.problems.some((p) => p.includes("has no approved decision"))).toBe(true);
    expect(wrongKey.ok).toBe(false);
    expect(wrongKey.decisions).toBe(0);
  });
});
