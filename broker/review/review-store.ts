import { assert } from "../../core/assert.ts";
import type { CaseKind, CaseStatus } from "../../protocol/review.ts";
import type { ClientKind } from "../../protocol/topics.ts";
import { StatementCache } from "../ledger/sqlite-db.ts";
import type { SqlDb } from "../../core/sql-db.ts";

/** The payment a case holds back, enough to post it later without the original request. */
export type HeldPayment =
  | { source: "hub"; hubId: string; requestId: string; walletId: string; amountMinor: number; currency: string; mode: string }
  | {
      source: "agent";
      agentId: string;
      requestId: string;
      mandateId: string;
      merchantId: string;
      category: string;
      walletId: string;
      amountMinor: number;
      currency: string;
    }
  /** A dispute: approving it refunds what is left of the payment to the payer. */
  | { source: "dispute"; paymentId: string; walletId: string };

export interface ReviewCase {
  caseId: string;
  kind: CaseKind;
  status: CaseStatus;
  requesterKind: ClientKind;
  requesterId: string;
  /** The idempotency key of the held request (hub id, or `agents/a1`, `wallets/w1`). */
  decisionKey: string;
  /** The `hubId` field of decisions answering the held request. */
  decisionHubId: string;
  requestId: string;
  requestType: string;
  requestHash: Uint8Array;
  walletId: string;
  held: HeldPayment;
  /** What the person or operator sees: utterance, product, mandate, risk signals, amount. */
  context: Record<string, string>;
  reason: string;
  createdAtMs: number;
  expiresAtMs: number | undefined;
  decidedAtMs: number | undefined;
  decidedBy: string | undefined;
  outcomeCode: number | undefined;
}

export type NewCase = Omit<ReviewCase, "caseId" | "status" | "decidedAtMs" | "decidedBy" | "outcomeCode">;

export interface Push {
  pushId: number;
  kind: ClientKind;
  id: string;
  payload: Buffer;
  expMs: number;
}

export const caseListMax = 1_000;
export const pushBatchMax = 256;

interface CaseRow {
  case_id: string;
  kind: CaseKind;
  status: CaseStatus;
  requester_kind: ClientKind;
  requester_id: string;
  decision_key: string;
  decision_hub_id: string;
  request_id: string;
  request_type: string;
  request_hash: Buffer;
  wallet_id: string;
  held: string;
  context: string;
  reason: string;
  created_at_ms: number;
  expires_at_ms: number | null;
  decided_at_ms: number | null;
  decided_by: string | null;
  outcome_code: number | null;
}

const caseColumns =
  "case_id, kind, status, requester_kind, requester_id, decision_key, decision_hub_id, request_id, request_type, request_hash, wallet_id, held, context, reason, created_at_ms, expires_at_ms, decided_at_ms, decided_by, outcome_code";

const toCase = (r: CaseRow): ReviewCase => ({
  caseId: r.case_id,
  kind: r.kind,
  status: r.status,
  requesterKind: r.requester_kind,
  requesterId: r.requester_id,
  decisionKey: r.decision_key,
  decisionHubId: r.decision_hub_id,
  requestId: r.request_id,
  requestType: r.request_type,
  requestHash: new Uint8Array(r.request_hash),
  walletId: r.wallet_id,
  held: JSON.parse(r.held) as HeldPayment,
  context: JSON.parse(r.context) as Record<string, string>,
  reason: r.reason,
  createdAtMs: r.created_at_ms,
  expiresAtMs: r.expires_at_ms ?? undefined,
  decidedAtMs: r.decided_at_ms ?? undefined,
  decidedBy: r.decided_by ?? undefined,
  outcomeCode: r.outcome_code ?? undefined,
});

/** Review cases and the push outbox, row by row; callers hold the transaction. */
export class ReviewStore {
  private readonly statements: StatementCache;

  constructor(db: SqlDb) {
    this.statements = new StatementCache(db);
  }

  /** Case ids are `<kind>-<n>`: short, unique, and an id that fits in a topic and a decision. */
  insert(c: NewCase): ReviewCase {
    const next = (this.statements.sql<[], number>("SELECT COALESCE(MAX(case_seq), 0) + 1 FROM review_cases").pluck().get() ?? 1) as number;
    const caseId = `${c.kind === "human_review" ? "review" : c.kind === "step_up" ? "stepup" : "dispute"}-${next}`;
    this.statements
      .sql(
        `INSERT INTO review_cases (case_seq, ${caseColumns}) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)`,
      )
      .run(
        next,
        caseId,
        c.kind,
        c.requesterKind,
        c.requesterId,
        c.decisionKey,
        c.decisionHubId,
        c.requestId,
        c.requestType,
        c.requestHash,
        c.walletId,
        JSON.stringify(c.held),
        JSON.stringify(c.context),
        c.reason.slice(0, 200),
        c.createdAtMs,
        c.expiresAtMs ?? null,
      );
    const stored = this.find(caseId);
    assert(stored, `case ${caseId} was stored`);
    return stored;
  }

  find(caseId: string): ReviewCase | undefined {
    const row = this.statements.sql<[string], CaseRow>(`SELECT ${caseColumns} FROM review_cases WHERE case_id = ?`).get(caseId);
    return row ? toCase(row) : undefined;
  }

  /** The latest case holding a request, decided or not. */
  findLatestFor(decisionKey: string, requestId: string): ReviewCase | undefined {
    const row = this.statements
      .sql<[string, string], CaseRow>(`SELECT ${caseColumns} FROM review_cases WHERE decision_key = ? AND request_id = ? ORDER BY case_seq DESC LIMIT 1`)
      .get(decisionKey, requestId);
    return row ? toCase(row) : undefined;
  }

  list(filter: { status?: CaseStatus; kind?: CaseKind; limit: number }): ReviewCase[] {
    assert(Number.isSafeInteger(filter.limit) && filter.limit > 0 && filter.limit <= caseListMax, `limit ${filter.limit}`);
    return this.statements
      .sql<[string | null, string | null, string | null, string | null, number], CaseRow>(
        `SELECT ${caseColumns} FROM review_cases WHERE (CAST(? AS TEXT) IS NULL OR status = ?) AND (CAST(? AS TEXT) IS NULL OR kind = ?) ORDER BY case_seq LIMIT ?`,
      )
      .all(filter.status ?? null, filter.status ?? null, filter.kind ?? null, filter.kind ?? null, filter.limit)
      .map(toCase);
  }

  /** pending → final, once: false when another decision got there first. */
  close(caseId: string, status: Exclude<CaseStatus, "pending">, decidedBy: string, outcomeCode: number, nowMs: number): boolean {
    return (
      this.statements
        .sql<[string, number, string, number, string]>(
          "UPDATE review_cases SET status = ?, decided_at_ms = ?, decided_by = ?, outcome_code = ? WHERE case_id = ? AND status = 'pending'",
        )
        .run(status, nowMs, decidedBy, outcomeCode, caseId).changes === 1
    );
  }

  expiredBefore(nowMs: number, limit: number): ReviewCase[] {
    return this.statements
      .sql<[number, number], CaseRow>(
        `SELECT ${caseColumns} FROM review_cases WHERE status = 'pending' AND expires_at_ms IS NOT NULL AND expires_at_ms <= ? ORDER BY case_seq LIMIT ?`,
      )
      .all(nowMs, limit)
      .map(toCase);
  }

  /** A case already open for this payment (disputes: one at a time). */
  hasPendingDispute(paymentId: string): boolean {
    // Read in full and parsed here (both engines, no JSON functions): pending disputes are few.
    return this.statements
      .sql<[], string>("SELECT held FROM review_cases WHERE kind = 'dispute' AND status = 'pending'")
      .pluck()
      .all()
      .some((held) => heldPaymentId(held) === paymentId);
  }

  queuePush(kind: ClientKind, id: string, payload: Buffer, expMs: number, nowMs: number): void {
    this.statements
      .sql<[string, string, Buffer, number, number]>("INSERT INTO review_pushes (kind, id, payload, exp_ms, created_at_ms) VALUES (?, ?, ?, ?, ?)")
      .run(kind, id, payload, expMs, nowMs);
  }

  unsentPushes(limit: number): Push[] {
    return this.statements
      .sql<[number], { push_id: number; kind: ClientKind; id: string; payload: Buffer; exp_ms: number }>(
        "SELECT push_id, kind, id, payload, exp_ms FROM review_pushes WHERE sent_at_ms IS NULL ORDER BY push_id LIMIT ?",
      )
      .all(limit)
      .map((r) => ({ pushId: r.push_id, kind: r.kind, id: r.id, payload: r.payload, expMs: r.exp_ms }));
  }

  markSent(pushId: number, nowMs: number): void {
    this.statements.sql<[number, number]>("UPDATE review_pushes SET sent_at_ms = ? WHERE push_id = ? AND sent_at_ms IS NULL").run(nowMs, pushId);
  }
}

/** The payment a dispute case holds (its `held` JSON names it). */
export function heldPaymentId(held: string): string {
  const { paymentId } = JSON.parse(held) as { paymentId?: unknown };
  assert(typeof paymentId === "string", "a dispute case names its payment");
  return paymentId;
}
