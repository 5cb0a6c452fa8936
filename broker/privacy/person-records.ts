import { encodeBody, decodeBody } from "../../protocol/cbor.ts";
import { decodeSign1 } from "../../protocol/cose.ts";
import { isTapwireError, ErrorCode } from "../../protocol/errors.ts";
import type { MandateStore } from "../agents/mandate-store.ts";
import { EvidenceStore, evidencePageMax, type EvidenceRow } from "../evidence/evidence-store.ts";
import type { Registry } from "../registry/registry.ts";
import { clearedContext, type PersonalData } from "./personal-data.ts";
import { readSealed, readableBody } from "../evidence/sealed-form.ts";
import { openSealedRequest } from "./sealed-evidence.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export interface PersonRecordsDeps {
  db: SqlDb;
  registry: Registry;
  mandates: MandateStore;
  evidence: EvidenceStore;
  personal: PersonalData;
}

/** Evidence rows one export reads at most (it pages through the chain): bounds the work of one export. */
export const exportEvidenceRowsMax = 1_000_000;

/** Everything held about one person, as JSON: byte strings in base64, personal fields decrypted where keys live. */
export interface PersonExport {
  format: "tapwire-person-export-v1";
  person: string;
  exportedAtMs: number;
  erasure: Record<string, unknown> | null;
  wallet: Record<string, unknown>;
  glassesEnrolments: Array<Record<string, unknown>>;
  consents: unknown[];
  mandates: unknown[];
  agentPayments: unknown[];
  transfers: Array<Record<string, unknown>>;
  reviewCases: Array<Record<string, unknown>>;
  /** Requests about them (sealed ones opened; `shredded` where the key is gone), their own requests, and the decisions on them. */
  evidence: ExportedEvidence[];
}

export interface ExportedEvidence {
  seq: number;
  kind: string;
  principal: string;
  requestId: string;
  recordedAtMs: number;
  sealed: boolean;
  /** The signed body, or for a shredded sealed row its clear (non-personal) fields only. */
  body: unknown;
  shredded: boolean;
}

/** JSON-ready: byte strings as base64, bigints as strings, Maps as objects. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), plain(v)]));
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

const rows = (db: SqlDb, sql: string, ...args: unknown[]) => db.prepare<unknown[], Record<string, unknown>>(sql).all(...args).map((r) => plain(r) as Record<string, unknown>);


export function exportPerson(deps: PersonRecordsDeps, person: string, nowMs: number): PersonExport {
  const { db, personal, mandates } = deps;
  personal.requirePerson(person);
  const account = `wallet:${person}`;
  const erasure = db.prepare<[string], Record<string, unknown>>("SELECT * FROM privacy_erasures WHERE person = ?").get(person);
  return {
    format: "tapwire-person-export-v1",
    person,
    exportedAtMs: nowMs,
    erasure: erasure ? (plain(erasure) as Record<string, unknown>) : null,
    wallet: rows(db, "SELECT * FROM registry_wallets WHERE wallet_id = ?", person)[0]!,
    glassesEnrolments: personal.hasGlasses() ? rows(db, "SELECT * FROM glasses_enrolments WHERE wallet_id = ? ORDER BY glasses_id", person) : [],
    consents: personal.consents.ofPerson(person).map(plain),
    mandates: mandates.mandatesOf(person).map(plain),
    agentPayments: rows(db, "SELECT * FROM agent_payments WHERE wallet_id = ? ORDER BY payment_id", person),
    transfers: rows(db, "SELECT * FROM ledger_transfers WHERE debit_account_id = ? OR credit_account_id = ? ORDER BY transfer_id", account, account),
    reviewCases: rows(db, "SELECT * FROM review_cases WHERE wallet_id = ? ORDER BY case_seq", person),
    evidence: evidenceOf(deps, person),
  };
}

function evidenceOf(deps: PersonRecordsDeps, person: string): ExportedEvidence[] {
  const own = `wallets/${person}`;
  const found: ExportedEvidence[] = [];
  const requests = new Set<string>();
  let read = 0;
  for (let page = deps.evidence.page(0, evidencePageMax); page.length > 0 && read < exportEvidenceRowsMax; page = deps.evidence.page(page[page.length - 1]!.seq, evidencePageMax)) {
    read += page.length;
    for (const row of page) {
      const key = `${row.principal}\n${row.requestId}`;
      const sealed = readSealed(row.bytes);
      const mine = sealed ? sealed.person === person : row.principal === own || (row.kind === "request" && names(deps.personal, readableBody(row.bytes), person));
      if (row.kind === "request" && mine) requests.add(key);
      if (mine || (row.kind === "decision" && requests.has(key))) found.push(exported(deps, row));
    }
  }
  return found;
}

/** Whether a plain request body is about the person: as payer, through their mandate, or as the wallet itself. */
function names(personal: PersonalData, body: Record<string, unknown> | undefined, person: string): boolean {
  return body !== undefined && personal.personOf(body) === person;
}

function exported(deps: PersonRecordsDeps, row: EvidenceRow): ExportedEvidence {
  const base = { seq: row.seq, kind: row.kind, principal: row.principal, requestId: row.requestId, recordedAtMs: row.recordedAtMs };
  const sealed = readSealed(row.bytes);
  if (sealed === undefined) {
    const body = row.kind === "operator" ? decodeBody(row.bytes) : decodeBody(decodeSign1(row.bytes).payload);
    return { ...base, sealed: false, body: plain(body), shredded: false };
  }
  try {
    return { ...base, sealed: true, body: plain(decodeBody(decodeSign1(openSealedRequest(sealed, deps.personal.keys)).payload)), shredded: false };
  } catch (error) {
    if (!isTapwireError(error, ErrorCode.PersonalDataShredded)) throw error;
    return { ...base, sealed: true, body: plain(decodeBody(sealed.clear)), shredded: true };
  }
}

export interface ErasureResult {
  person: string;
  /** True when the person had been erased before: nothing was done this time. */
  alreadyErased: boolean;
  erasedAtMs: number;
  /** The evidence row that records the erase. */
  evidenceSeq: number;
  keysShredded: number;
  consentsWithdrawn: number;
  mandatesRevoked: number;
  glassesRemoved: number;
  reviewCasesCleared: number;
}

/**
 * Erases a person, in the caller's transaction: destroys every data key of theirs (their sealed evidence becomes
 * unreadable), withdraws their consents (glasses enrolments removed, mandates revoked), clears the context of
 * their review cases, revokes their wallet, and records the erase as evidence. Money records stay as they are:
 * ledger transfers, balances, decisions, payments. Twice: nothing more is done, `alreadyErased` says so.
 */
export function erasePerson(deps: PersonRecordsDeps, person: string, by: string, nowMs: number): ErasureResult {
  const { db, personal, mandates, registry, evidence } = deps;
  personal.requirePerson(person);
  const before = db.prepare<[string], { erased_at_ms: number; evidence_seq: number }>("SELECT erased_at_ms, evidence_seq FROM privacy_erasures WHERE person = ?").get(person);
  if (before) {
    return { person, alreadyErased: true, erasedAtMs: before.erased_at_ms, evidenceSeq: before.evidence_seq, keysShredded: 0, consentsWithdrawn: 0, mandatesRevoked: 0, glassesRemoved: 0, reviewCasesCleared: 0 };
  }
  const keysShredded = personal.keys.shredPerson(person, nowMs);
  const consentsWithdrawn = personal.consents.ofPerson(person).filter((c) => personal.withdraw(c.consentId, "erase", nowMs).withdrawn).length;
  // Enrolments and mandates made before consents were recorded have no consent row: they go too.
  const glassesRemoved = personal.hasGlasses()
    ? db.prepare<[string], string>("SELECT glasses_id FROM glasses_enrolments WHERE wallet_id = ?").pluck().all(person).reduce((n, id) => n + personal.removeGlasses(id), 0)
    : 0;
  const mandatesRevoked = mandates.mandatesOf(person).filter((m) => mandates.revokeMandate(m.mandateId, nowMs)).length;
  const reviewCasesCleared = db.prepare<[string, string, string]>("UPDATE review_cases SET context = ? WHERE wallet_id = ? AND context != ?").run(clearedContext, person, clearedContext).changes;
  registry.revokeWallet(person);
  const counts = { keysShredded, consentsWithdrawn, mandatesRevoked, glassesRemoved, reviewCasesCleared };
  const row = evidence.append("operator", by, `erase:wallets/${person}`, encodeBody({ type: "privacy_erase", subject: `wallets/${person}`, by, atMs: nowMs, ...counts }), nowMs);
  db.prepare<[string, number, string, number]>("INSERT INTO privacy_erasures (person, erased_at_ms, erased_by, evidence_seq) VALUES (?, ?, ?, ?)").run(person, nowMs, by, row.seq);
  return { person, alreadyErased: false, erasedAtMs: nowMs, evidenceSeq: row.seq, ...counts };
}
