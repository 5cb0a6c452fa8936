import type { KeyObject } from "node:crypto";
import { openSealed, readEnvelope } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { bodyHash, decisionSchema, type Decision } from "../../protocol/messages.ts";
import { checkPayoutTransfers, clearingTransferKinds } from "./payout-record.ts";
import { readSealed } from "./sealed-form.ts";
import { EvidenceStore, evidencePageMax, evidenceRowHash, genesisHash, type EvidenceKind, type EvidenceRow } from "./evidence-store.ts";
import { sha256 } from "../../protocol/bytes.ts";
import type { SqlDb } from "../../core/sql-db.ts";

/**
 * Evidence, checked from the stored messages alone: the chain is unbroken, every decision verifies with the
 * service key and answers a stored request (its requestHash is the SHA-256 of a stored request's payload, or the
 * one a sealed request names in clear: a sealed request's personal fields cannot be checked without its person's key),
 * and the money that moved (ledger transfers other than funding) is exactly what approved decisions' receipts
 * say, one for one; fees and payouts, what the clearing runs' payout records say. Needs no running service and
 * no registry: only the bundle (or file) and the service key.
 */
export interface EvidenceBundle {
  format: "tapwire-evidence-v1";
  rows: BundleRow[];
  transfers: BundleTransfer[];
}

export interface BundleRow {
  seq: number;
  kind: EvidenceKind;
  principal: string;
  requestId: string;
  bytesBase64: string;
  bytesHashHex: string;
  prevHashHex: string;
  rowHashHex: string;
  recordedAtMs: number;
}

export interface BundleTransfer {
  transferId: number;
  kind: string;
  debitAccountId: string;
  creditAccountId: string;
  amountMinor: number;
  currency: string;
  reference: string;
  postedAtMs: number;
}

export interface EvidenceReport {
  ok: boolean;
  rows: number;
  requests: number;
  decisions: number;
  operatorActions: number;
  transfers: number;
  receipts: number;
  /** Human-readable findings, each naming the row (`#12`) or transfer it concerns; empty when ok. */
  problems: string[];
}

/** Bound on findings listed, so a wholly corrupt file gives a readable report. */
export const problemsMax = 100;

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const fromHex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a).equals(Buffer.from(b));
}

function allRows(db: SqlDb): EvidenceRow[] {
  const store = new EvidenceStore(db);
  const rows: EvidenceRow[] = [];
  for (let page = store.page(0, evidencePageMax); page.length > 0; page = store.page(page[page.length - 1]!.seq, evidencePageMax)) {
    rows.push(...page);
  }
  return rows;
}

function allTransfers(db: SqlDb): BundleTransfer[] {
  return db
    .prepare<[], { transfer_id: number; kind: string; debit_account_id: string; credit_account_id: string; amount_minor: number; currency: string; reference: string; posted_at_ms: number }>(
      "SELECT transfer_id, kind, debit_account_id, credit_account_id, amount_minor, currency, reference, posted_at_ms FROM ledger_transfers ORDER BY transfer_id",
    )
    .all()
    .map((t) => ({
      transferId: t.transfer_id,
      kind: t.kind,
      debitAccountId: t.debit_account_id,
      creditAccountId: t.credit_account_id,
      amountMinor: t.amount_minor,
      currency: t.currency,
      reference: t.reference,
      postedAtMs: t.posted_at_ms,
    }));
}

export function exportEvidence(db: SqlDb): EvidenceBundle {
  return {
    format: "tapwire-evidence-v1",
    rows: allRows(db).map((r) => ({
      seq: r.seq,
      kind: r.kind,
      principal: r.principal,
      requestId: r.requestId,
      bytesBase64: Buffer.from(r.bytes).toString("base64"),
      bytesHashHex: hex(r.bytesHash),
      prevHashHex: hex(r.prevHash),
      rowHashHex: hex(r.rowHash),
      recordedAtMs: r.recordedAtMs,
    })),
    transfers: allTransfers(db),
  };
}

export function verifyEvidenceDb(db: SqlDb, servicePublicKey: KeyObject): EvidenceReport {
  return verifyRows(allRows(db), allTransfers(db), servicePublicKey);
}

export function verifyEvidenceBundle(bundle: EvidenceBundle, servicePublicKey: KeyObject): EvidenceReport {
  if (bundle.format !== "tapwire-evidence-v1" || !Array.isArray(bundle.rows) || !Array.isArray(bundle.transfers)) {
    throw new TapwireError("not a tapwire evidence bundle", ErrorCode.EvidenceInvalid);
  }
  const rows = bundle.rows.map((r) => ({
    seq: r.seq,
    kind: r.kind,
    principal: r.principal,
    requestId: r.requestId,
    bytes: new Uint8Array(Buffer.from(r.bytesBase64, "base64")),
    bytesHash: fromHex(r.bytesHashHex),
    prevHash: fromHex(r.prevHashHex),
    rowHash: fromHex(r.rowHashHex),
    recordedAtMs: r.recordedAtMs,
  }));
  return verifyRows(rows, bundle.transfers, servicePublicKey);
}

/** Throws EvidenceInvalid with the first findings when the report is not ok. */
export function requireValidEvidence(report: EvidenceReport): EvidenceReport {
  if (!report.ok) throw new TapwireError(`evidence invalid: ${report.problems.slice(0, 5).join("; ")}`, ErrorCode.EvidenceInvalid, { problems: report.problems });
  return report;
}

function verifyRows(rows: readonly EvidenceRow[], transfers: readonly BundleTransfer[], servicePublicKey: KeyObject): EvidenceReport {
  const problems: string[] = [];
  const problem = (text: string) => {
    if (problems.length < problemsMax) problems.push(text);
  };
  checkChain(rows, problem);
  const requestHashes = new Set<string>();
  for (const row of rows.filter((r) => r.kind === "request")) {
    // A sealed request (sealed-form.ts) names the hash of the payload it seals in clear: the
    // link to its decision holds whether or not the person's key still exists.
    const sealed = readSealed(row.bytes);
    if (sealed !== undefined) {
      requestHashes.add(hex(sealed.requestHash));
      continue;
    }
    try {
      requestHashes.add(hex(bodyHash(readEnvelope(row.bytes).payload)));
    } catch {
      problem(`#${row.seq}: stored request is not a COSE_Sign1`);
    }
  }
  const decisions: Decision[] = [];
  for (const row of rows.filter((r) => r.kind === "decision")) {
    let decision: Decision;
    try {
      decision = openSealed(row.bytes, servicePublicKey, decisionSchema).body;
    } catch (error) {
      problem(`#${row.seq}: decision does not verify with the service key (${(error as Error).message})`);
      continue;
    }
    if (!requestHashes.has(hex(decision.requestHash))) problem(`#${row.seq}: decision for ${decision.requestId} answers no stored request`);
    decisions.push(decision);
  }
  const receipts = checkMoney(decisions, transfers, problem);
  checkPayoutTransfers(rows, transfers, problem);
  return {
    ok: problems.length === 0,
    rows: rows.length,
    requests: requestHashes.size,
    decisions: decisions.length,
    operatorActions: rows.filter((r) => r.kind === "operator").length,
    transfers: transfers.filter((t) => t.kind !== "funding").length,
    receipts,
    problems,
  };
}

function checkChain(rows: readonly EvidenceRow[], problem: (text: string) => void): void {
  let previous: Uint8Array = genesisHash;
  rows.forEach((row, index) => {
    if (row.seq !== index + 1) problem(`#${row.seq}: expected row ${index + 1} (a row is missing)`);
    if (!sameHash(row.bytesHash, sha256(row.bytes))) problem(`#${row.seq}: bytes do not match their hash`);
    if (!sameHash(row.prevHash, previous)) problem(`#${row.seq}: chain broken (previous hash differs)`);
    if (!sameHash(row.rowHash, evidenceRowHash(row))) problem(`#${row.seq}: row hash does not match its contents`);
    previous = row.rowHash;
  });
}

/** Requests whose receipt gives money back to the payer; every other receipt is a payment. */
const givesBack = new Set(["refund", "reversal", "dispute_open"]);
const transferGivesBack = new Set(["refund", "reversal", "dispute_refund", "campaign_return", "fx_refund", "fx_reversal"]);

/**
 * Receipts (one per posting, however many decisions repeat it: a held payment's final decision and the
 * approval's answer carry the same one) against non-funding transfers, one for one, by direction. A receipt
 * with a campaign's discount names two legs posted at the same time: the customer's (amount − discount) and
 * the campaign's (the discount); a leg of 0 was not posted. A converted payment's (or give-back's) `fx` names one
 * more leg, in the payer's currency, posted at the same time.
 */
function checkMoney(decisions: readonly Decision[], transfers: readonly BundleTransfer[], problem: (text: string) => void): number {
  const receipts = new Set<string>();
  const legs = new Map<string, string>();
  for (const d of decisions) {
    if (d.status !== "approved" || !d.receipt) continue;
    const r = d.receipt;
    const direction = givesBack.has(d.requestType) ? "back" : "pay";
    // A payment's receipt may be repeated by other decisions (a held payment's approval); a give-back's is
    // its own request's alone, and two equal refunds of one payment in one millisecond are two movements.
    const receiptKey = `${r.paymentId}|${direction === "back" ? `${d.hubId}/${d.requestId}` : ""}|${r.amountMinor}|${r.currency}|${r.postedAtMs}`;
    receipts.add(receiptKey);
    const campaignMinor = r.discountMinor ?? 0;
    [r.amountMinor - campaignMinor, campaignMinor].forEach((amountMinor, leg) => {
      const movement = `${direction}|${amountMinor}|${r.currency}|${r.postedAtMs}`;
      if (amountMinor > 0) legs.set(`${receiptKey}|${leg}`, movement);
    });
    if (d.fx && d.fx.payerAmountMinor > 0) legs.set(`${receiptKey}|fx`, `${direction}|${d.fx.payerAmountMinor}|${d.fx.payerCurrency}|${r.postedAtMs}`);
  }
  const said = [...legs.values()].sort();
  const moved = transfers
    .filter((t) => t.kind !== "funding" && !clearingTransferKinds.has(t.kind))
    .map((t) => `${transferGivesBack.has(t.kind) ? "back" : "pay"}|${t.amountMinor}|${t.currency}|${t.postedAtMs}`)
    .sort();
  const count = (list: readonly string[]) => list.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>());
  const saidCount = count(said);
  const movedCount = count(moved);
  for (const [key, n] of movedCount) {
    if ((saidCount.get(key) ?? 0) < n) problem(`transfer ${key} has no approved decision`);
  }
  for (const [key, n] of saidCount) {
    if ((movedCount.get(key) ?? 0) < n) problem(`approved receipt ${key} has no ledger transfer`);
  }
  return receipts.size;
}
