import { assert } from "../../core/assert.ts";
import type { DecisionStatus } from "../../protocol/messages.ts";
import type { ClientKind } from "../../protocol/topics.ts";
import { StatementCache } from "../ledger/sqlite-db.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export interface StoredDecision {
  /** The idempotency key: the hub id for a hub's requests (and tag payments), the principal name for a wallet's or agent's own. */
  hubId: string;
  /** Who sent the request: the decision goes back to it (and to the paying wallet, for a tag payment). */
  principalKind: ClientKind;
  requestId: string;
  bodyHash: Uint8Array;
  requestType: string;
  status: DecisionStatus;
  code: number;
  /** Set for tag-mode payments, whose decision also goes to the wallet. */
  walletId: string | undefined;
  /** The signed COSE_Sign1 bytes, returned unchanged to every retry. */
  decision: Buffer;
  expMs: number;
  createdAtMs: number;
}

/** A decision as both engines store it (pg returns BYTEA as a Buffer too). */
export interface DecisionRow {
  hub_id: string;
  principal_kind: ClientKind;
  request_id: string;
  body_hash: Buffer;
  request_type: string;
  status: DecisionStatus;
  code: number;
  wallet_id: string | null;
  decision: Buffer;
  exp_ms: number;
  created_at_ms: number;
}

export const decisionColumns = "hub_id, principal_kind, request_id, body_hash, request_type, status, code, wallet_id, decision, exp_ms, created_at_ms";

// Every payment runs these: texts built once (see registry.ts findHubSql).
const findDecisionSql = `SELECT ${decisionColumns} FROM settlement_decisions WHERE hub_id = ? AND request_id = ?`;
const saveDecisionSql = `INSERT INTO settlement_decisions (${decisionColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export const toDecision = (r: DecisionRow): StoredDecision => ({
  hubId: r.hub_id,
  principalKind: r.principal_kind,
  requestId: r.request_id,
  bodyHash: new Uint8Array(r.body_hash),
  requestType: r.request_type,
  status: r.status,
  code: r.code,
  walletId: r.wallet_id ?? undefined,
  decision: r.decision,
  expMs: r.exp_ms,
  createdAtMs: r.created_at_ms,
});

/**
 * What the service answered, so that a retry gets the same answer and a replay none: the idempotency records
 * (decisions by key and requestId) and the tag offers' consumed nonces. Pruned after the retention time; the
 * books (payments, refunds, voids, batches) are settlement-store.ts. Callers hold the transaction.
 */
export class DecisionStore {
  private readonly statements: StatementCache;

  constructor(db: SqlDb) {
    this.statements = new StatementCache(db);
  }

  findDecision(hubId: string, requestId: string): StoredDecision | undefined {
    const row = this.statements
      .sql<[string, string], DecisionRow>(findDecisionSql)
      .get(hubId, requestId);
    return row ? toDecision(row) : undefined;
  }

  saveDecision(d: StoredDecision): void {
    this.statements
      .sql<[string, ClientKind, string, Uint8Array, string, string, number, string | null, Buffer, number, number]>(saveDecisionSql)
      .run(d.hubId, d.principalKind, d.requestId, d.bodyHash, d.requestType, d.status, d.code, d.walletId ?? null, d.decision, d.expMs, d.createdAtMs);
  }

  /** A held request's final answer takes the place of its `step_up_required` / `human_review` decision. */
  replaceDecision(key: string, requestId: string, status: DecisionStatus, code: number, decision: Buffer, expMs: number): void {
    const result = this.statements
      .sql<[string, number, Buffer, number, string, string]>(
        "UPDATE settlement_decisions SET status = ?, code = ?, decision = ?, exp_ms = ? WHERE hub_id = ? AND request_id = ?",
      )
      .run(status, code, decision, expMs, key, requestId);
    assert(result.changes <= 1, `one decision per (${key}, ${requestId})`);
  }

  isNonceConsumed(hubId: string, nonce: Uint8Array): boolean {
    return (
      this.statements.sql<[string, Uint8Array], number>("SELECT 1 FROM settlement_nonces WHERE hub_id = ? AND nonce = ?").pluck().get(hubId, nonce) !==
      undefined
    );
  }

  consumeNonce(hubId: string, nonce: Uint8Array, offerId: string, walletId: string, nowMs: number): void {
    this.statements
      .sql<[string, Uint8Array, string, string, number]>(
        "INSERT INTO settlement_nonces (hub_id, nonce, offer_id, wallet_id, consumed_at_ms) VALUES (?, ?, ?, ?, ?)",
      )
      .run(hubId, nonce, offerId, walletId, nowMs);
  }

  /**
   * Drops idempotency records and consumed nonces created before the cutoff, at most `rowsMax` of each kind,
   * oldest first, so one call never blocks for long. Voids, payments and batch reports stay: they are the books.
   */
  pruneBefore(cutoffMs: number, rowsMax: number): { decisions: number; nonces: number } {
    const decisions = this.statements
      .sql<[number, number]>(
        `DELETE FROM settlement_decisions WHERE (hub_id, request_id) IN
           (SELECT hub_id, request_id FROM settlement_decisions WHERE created_at_ms < ? ORDER BY created_at_ms LIMIT ?)`,
      )
      .run(cutoffMs, rowsMax).changes;
    const nonces = this.statements
      .sql<[number, number]>(
        `DELETE FROM settlement_nonces WHERE (hub_id, nonce) IN
           (SELECT hub_id, nonce FROM settlement_nonces WHERE consumed_at_ms < ? ORDER BY consumed_at_ms LIMIT ?)`,
      )
      .run(cutoffMs, rowsMax).changes;
    return { decisions, nonces };
  }
}
