import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { readSealed } from "../../broker/evidence/sealed-form.ts";
import { EvidenceStore } from "../../broker/evidence/evidence-store.ts";
import { loadOrCreateOperatorPki } from "../../broker/operator-pki.ts";
import { PersonalKeys } from "../../broker/privacy/personal-keys.ts";
import { openSealedRequest } from "../../broker/privacy/sealed-evidence.ts";
import { SettlementService } from "../../broker/settlement/settlement-service.ts";
import { privacyEraseCommand, privacyExportCommand } from "../../cli/privacy.ts";
import { evidenceVerifyCommand } from "../../cli/evidence.ts";
import { ledgerFileName } from "../../core/data-dir.ts";
import { systemClock, systemRandom } from "../../core/sources.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { runDemo } from "../../simulator/demo/run-demo.ts";
import { captureStdout, codeOf } from "../support/cli.ts";
import { findNumbers, luhnValid, scanDatabase } from "./scan.ts";
import { asSqlite } from "../../broker/ledger/sqlite-db.ts";

/** What `npm start` runs, its data kept: alice paid by tap, with glasses ("I'll take it") and through her agent. */
let dataDir: string;
let exitCode: number;
/** What alice and her agent said, as the export before her erase shows it. */
let said: string[] = [];

beforeAll(async () => {
  const lines: string[] = [];
  exitCode = await runDemo({ port: 0, keepDataDir: true, write: (line) => lines.push(line) });
  const kept = lines.map((line) => /--data-dir (\S+)/.exec(line)?.[1]).find((dir) => dir !== undefined);
  if (kept === undefined) throw new Error(`the demo did not say where it kept its data:\n${lines.join("\n")}`);
  dataDir = kept;
}, 120_000);
afterAll(() => {
  rmSync(dirname(dataDir), { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function withService<T>(work: (service: SettlementService, keys: PersonalKeys) => T): Promise<T> {
  const pki = await loadOrCreateOperatorPki(dataDir, systemClock, systemRandom);
  const service = new SettlementService({ databasePath: join(dataDir, ledgerFileName), serviceKey: pki.serviceSigningKey, privacyKek: pki.privacyKek, clock: systemClock });
  await service.start();
  try {
    return work(service, new PersonalKeys(service.database, pki.privacyKek, systemRandom));
  } finally {
    await service.stop();
  }
}

function balances(service: SettlementService): Record<string, number> {
  return Object.fromEntries(
    service.database.prepare<[], { account_id: string; balance_minor: number }>("SELECT account_id, balance_minor FROM ledger_accounts ORDER BY account_id").all().map((r) => [r.account_id, r.balance_minor]),
  );
}

/** The free text a sealed request body carries: what the person said, what the agent heard and chose. */
function personalTexts(bodies: unknown[]): string[] {
  return bodies.flatMap((body) => {
    const { context, cart } = body as { context?: Record<string, string>; cart?: { summary: string } };
    return [...Object.values(context ?? {}), ...(cart ? [cart.summary] : [])].filter((text) => text.length >= 6 && text !== "true");
  });
}

function cellsOf(db: Database.Database): string {
  const tables = db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all();
  return tables
    .flatMap((table) => db.prepare<[], Record<string, unknown>>(`SELECT * FROM "${table}"`).all())
    .flatMap((row) => Object.values(row).map((v) => (typeof v === "string" ? v : Buffer.isBuffer(v) ? v.toString("utf8") : "")))
    .join("\n");
}

describe("the scanner itself", () => {
  it("finds a Luhn-valid test PAN and a valid IBAN, and not a millisecond timestamp or a Luhn-invalid run", () => {
    expect(luhnValid("4111111111111111")).toBe(true);
    expect(findNumbers('{"pan":"4111111111111111","iban":"DE89370400440532013000","at":"1795435200000","x":"4111111111111112"}').map((f) => f.kind)).toEqual(["pan", "iban"]);
  });
});

describe("privacy after the demo (npm start)", () => {
  it("stores no card number and no payer account number in any text or blob column of any table", () => {
    expect(exitCode).toBe(0);
    const db = new Database(join(dataDir, ledgerFileName), { readonly: true });
    try {
      const { findings, cellsScanned } = scanDatabase(db);

      expect(cellsScanned).toBeGreaterThan(100);
      expect(findings).toEqual([]);
    } finally {
      db.close();
    }
  });

  it("records consent at glasses enrolment (unsigned: nothing is signed there) and at mandate registration (the wallet's signature)", async () => {
    const consents = await withService((service) => service.consentsOf("alice"));

    expect(consents.map((c) => [c.purpose, c.textVersion, c.signature?.length ?? 0, c.withdrawnAtMs])).toEqual([
      ["glasses_voiceprint", "glasses-voiceprint-v1", 0, undefined],
      ["agent_mandate", "agent-mandate-v1", 64, undefined],
    ]);
  });

  it("exports alice's records, erases her: personal fields unreadable, evidence still verifies, balances unchanged; twice says so", async () => {
    const { exported, before, sealed } = await withService((service) => ({
      exported: service.exportPerson("alice"),
      before: balances(service),
      sealed: new EvidenceStore(service.database).page(0, 10_000).map((r) => readSealed(r.bytes)).filter((s) => s !== undefined),
    }));
    expect(exported.wallet["wallet_id"]).toBe("alice");
    expect(exported.glassesEnrolments).toHaveLength(1);
    expect(exported.consents).toHaveLength(2);
    expect(exported.mandates).toHaveLength(1);
    expect(exported.agentPayments.length).toBeGreaterThan(0);
    expect(exported.transfers.length).toBeGreaterThan(3);
    expect(exported.reviewCases.length).toBeGreaterThan(0);
    const sealedRows = exported.evidence.filter((e) => e.sealed);
    expect(sealedRows.map((e) => (e.body as { type: string }).type)).toEqual(expect.arrayContaining(["payment_request", "agent_payment"]));
    expect(sealedRows.every((e) => !e.shredded)).toBe(true);
    said = personalTexts(sealedRows.map((e) => e.body));
    expect(said).toEqual(expect.arrayContaining(["I'll take it"]));
    expect(sealed.length).toBe(sealedRows.length);

    const printed = captureStdout();
    expect(await codeOf(() => privacyEraseCommand(["--person", "alice", "--operator", "dpo", "--data-dir", dataDir]))).toBe(0);
    expect(await codeOf(() => privacyEraseCommand(["--person", "alice", "--data-dir", dataDir]))).toBe(0);
    expect(await codeOf(() => evidenceVerifyCommand(["--data-dir", dataDir]))).toBe(0);
    vi.restoreAllMocks();
    expect(printed.join("")).toMatch(/^alice erased \(evidence #\d+\): [1-9]\d* data keys destroyed, 2 consents withdrawn/);
    expect(printed.join("")).toMatch(/\nalice already erased at /);
    expect(printed.join("")).toMatch(/evidence ok/);

    await withService((service, keys) => {
      expect(balances(service)).toEqual(before);
      expect(service.ledger.checkInvariants().balanceSumMinorByCurrency).toEqual({ EUR: 0, JPY: 0 });
      expect(service.verifyEvidence().ok).toBe(true);
      const after = service.exportPerson("alice");
      expect(after.erasure).toMatchObject({ person: "alice", erased_by: "operators/dpo" });
      expect(after.evidence.filter((e) => e.sealed).every((e) => e.shredded)).toBe(true);
      const text = `${JSON.stringify(after)}\n${cellsOf(asSqlite(service.database))}`;
      expect(said.filter((phrase) => text.includes(phrase))).toEqual([]);
      expect(after.glassesEnrolments).toEqual([]);
      expect((after.mandates as Array<{ status: string }>).map((m) => m.status)).toEqual(["revoked"]);
      expect(after.consents.map((c) => (c as { withdrawnBy: string }).withdrawnBy)).toEqual(["erase", "erase"]);
      expect(after.wallet["status"]).toBe("revoked");
      for (const s of sealed) {
        let code = 0;
        try {
          openSealedRequest(s, keys);
        } catch (error) {
          code = isTapwireError(error) ? error.code : -1;
        }
        expect(code).toBe(ErrorCode.PersonalDataShredded);
      }
      expect(service.erasePerson("alice", "operators/dpo").alreadyErased).toBe(true);
    });
  });

  it("leaves no erased phrase in the database file's bytes either (freed space included)", () => {
    const file = readFileSync(join(dataDir, ledgerFileName)).toString("utf8");

    expect(said.length).toBeGreaterThan(2);
    expect(said.filter((phrase) => file.includes(phrase))).toEqual([]);
  });

  it("refuses to export or erase an unknown person, typed", async () => {
    captureStdout();
    expect(await codeOf(() => privacyEraseCommand(["--person", "nobody", "--data-dir", dataDir]))).toBe(ErrorCode.PersonUnknown);
    expect(await codeOf(() => privacyExportCommand(["--person", "nobody", "--data-dir", dataDir]))).toBe(ErrorCode.PersonUnknown);
  });
});
