import { assert } from "../../core/assert.ts";
import type { OpenMandate } from "../../protocol/mandates.ts";
import { StatementCache } from "../ledger/sqlite-db.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export type MandateStatus = "active" | "revoked";

export interface MandateRecord {
  mandateId: string;
  walletId: string;
  agentId: string;
  /** SPKI DER of the only key that may close this mandate. */
  agentKey: Uint8Array;
  perPaymentMaxMinor: number;
  budgetMinor: number;
  spentMinor: number;
  currency: string;
  allowedMerchants: string[];
  allowedCategories: string[];
  stepUpAboveMinor: number | undefined;
  notBeforeMs: number;
  expiresAtMs: number;
  status: MandateStatus;
  /** The wallet-signed COSE_Sign1 exactly as registered. */
  mandate: Uint8Array;
  mandateHash: Uint8Array;
  registeredAtMs: number;
}

export interface AgentPaymentRecord {
  paymentId: number;
  agentId: string;
  requestId: string;
  mandateId: string;
  merchantId: string;
  walletId: string;
  category: string;
  amountMinor: number;
  currency: string;
  refundedMinor: number;
  transferId: number;
  capturedAtMs: number;
}

export const mandateListMax = 10_000;

interface MandateRow {
  mandate_id: string;
  wallet_id: string;
  agent_id: string;
  agent_key: Buffer;
  per_payment_max_minor: number;
  budget_minor: number;
  spent_minor: number;
  currency: string;
  allowed_merchants: string;
  allowed_categories: string;
  step_up_above_minor: number | null;
  not_before_ms: number;
  expires_at_ms: number;
  status: MandateStatus;
  mandate: Buffer;
  mandate_hash: Buffer;
  registered_at_ms: number;
}

interface PaymentRow {
  payment_id: number;
  agent_id: string;
  request_id: string;
  mandate_id: string;
  merchant_id: string;
  wallet_id: string;
  category: string;
  amount_minor: number;
  currency: string;
  refunded_minor: number;
  transfer_id: number;
  captured_at_ms: number;
}

const mandateColumns =
  "mandate_id, wallet_id, agent_id, agent_key, per_payment_max_minor, budget_minor, spent_minor, currency, allowed_merchants, allowed_categories, step_up_above_minor, not_before_ms, expires_at_ms, status, mandate, mandate_hash, registered_at_ms";
const paymentColumns =
  "payment_id, agent_id, request_id, mandate_id, merchant_id, wallet_id, category, amount_minor, currency, refunded_minor, transfer_id, captured_at_ms";

const toMandate = (r: MandateRow): MandateRecord => ({
  mandateId: r.mandate_id,
  walletId: r.wallet_id,
  agentId: r.agent_id,
  agentKey: new Uint8Array(r.agent_key),
  perPaymentMaxMinor: r.per_payment_max_minor,
  budgetMinor: r.budget_minor,
  spentMinor: r.spent_minor,
  currency: r.currency,
  allowedMerchants: JSON.parse(r.allowed_merchants) as string[],
  allowedCategories: JSON.parse(r.allowed_categories) as string[],
  stepUpAboveMinor: r.step_up_above_minor ?? undefined,
  notBeforeMs: r.not_before_ms,
  expiresAtMs: r.expires_at_ms,
  status: r.status,
  mandate: new Uint8Array(r.mandate),
  mandateHash: new Uint8Array(r.mandate_hash),
  registeredAtMs: r.registered_at_ms,
});

const toPayment = (r: PaymentRow): AgentPaymentRecord => ({
  paymentId: r.payment_id,
  agentId: r.agent_id,
  requestId: r.request_id,
  mandateId: r.mandate_id,
  merchantId: r.merchant_id,
  walletId: r.wallet_id,
  category: r.category,
  amountMinor: r.amount_minor,
  currency: r.currency,
  refundedMinor: r.refunded_minor,
  transferId: r.transfer_id,
  capturedAtMs: r.captured_at_ms,
});

/** Mandates, consumed closed mandates and agent payments, row by row; callers hold the transaction. */
export class MandateStore {
  private readonly statements: StatementCache;

  constructor(db: SqlDb) {
    this.statements = new StatementCache(db);
  }

  insertMandate(mandate: OpenMandate, signed: Uint8Array, mandateHash: Uint8Array, nowMs: number): MandateRecord {
    this.statements
      .sql(
        `INSERT INTO agent_mandates (${mandateColumns}) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?)`,
      )
      .run(
        mandate.mandateId,
        mandate.walletId,
        mandate.agentId,
        mandate.agentKey,
        mandate.perPaymentMaxMinor,
        mandate.budgetMinor,
        mandate.currency,
        JSON.stringify(mandate.allowedMerchants ?? []),
        JSON.stringify(mandate.allowedCategories ?? []),
        mandate.stepUpAboveMinor ?? null,
        mandate.notBefore,
        mandate.expiresAt,
        signed,
        mandateHash,
        nowMs,
      );
    const stored = this.findMandate(mandate.mandateId);
    assert(stored, `mandate ${mandate.mandateId} was stored`);
    return stored;
  }

  findMandate(mandateId: string): MandateRecord | undefined {
    const row = this.statements.sql<[string], MandateRow>(`SELECT ${mandateColumns} FROM agent_mandates WHERE mandate_id = ?`).get(mandateId);
    return row ? toMandate(row) : undefined;
  }

  mandatesOf(walletId: string): MandateRecord[] {
    return this.statements
      .sql<[string, number], MandateRow>(`SELECT ${mandateColumns} FROM agent_mandates WHERE wallet_id = ? ORDER BY registered_at_ms, mandate_id LIMIT ?`)
      .all(walletId, mandateListMax)
      .map(toMandate);
  }

  revokeMandate(mandateId: string, nowMs: number): boolean {
    return (
      this.statements
        .sql<[number, string]>("UPDATE agent_mandates SET status = 'revoked', revoked_at_ms = ? WHERE mandate_id = ? AND status = 'active'")
        .run(nowMs, mandateId).changes === 1
    );
  }

  /** The budget test and the update in one statement: false (nothing changed) when it would go over. */
  spend(mandateId: string, amountMinor: number): boolean {
    return (
      this.statements
        .sql<[number, string, number]>("UPDATE agent_mandates SET spent_minor = spent_minor + ? WHERE mandate_id = ? AND spent_minor + ? <= budget_minor")
        .run(amountMinor, mandateId, amountMinor).changes === 1
    );
  }

  isClosedConsumed(closedHash: Uint8Array): boolean {
    return this.statements.sql<[Uint8Array], number>("SELECT 1 FROM agent_closed_mandates WHERE closed_hash = ?").pluck().get(closedHash) !== undefined;
  }

  consumeClosed(closedHash: Uint8Array, agentId: string, requestId: string, mandateId: string, nowMs: number): void {
    this.statements
      .sql<[Uint8Array, string, string, string, number]>(
        "INSERT INTO agent_closed_mandates (closed_hash, agent_id, request_id, mandate_id, consumed_at_ms) VALUES (?, ?, ?, ?, ?)",
      )
      .run(closedHash, agentId, requestId, mandateId, nowMs);
  }

  insertPayment(p: Omit<AgentPaymentRecord, "paymentId" | "refundedMinor">): AgentPaymentRecord {
    const paymentId = this.statements
      .sql<unknown[], number>(
        `INSERT INTO agent_payments (agent_id, request_id, mandate_id, merchant_id, wallet_id, category, amount_minor, currency, transfer_id, captured_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING payment_id`,
      )
      .pluck()
      .get(p.agentId, p.requestId, p.mandateId, p.merchantId, p.walletId, p.category, p.amountMinor, p.currency, p.transferId, p.capturedAtMs);
    assert(paymentId !== undefined, "the insert returns its payment id");
    const stored = this.findPayment(paymentId);
    assert(stored, "agent payment was stored");
    return stored;
  }

  findPayment(paymentId: number): AgentPaymentRecord | undefined {
    const row = this.statements.sql<[number], PaymentRow>(`SELECT ${paymentColumns} FROM agent_payments WHERE payment_id = ?`).get(paymentId);
    return row ? toPayment(row) : undefined;
  }

  paymentsOfMandate(mandateId: string): AgentPaymentRecord[] {
    return this.statements
      .sql<[string, number], PaymentRow>(`SELECT ${paymentColumns} FROM agent_payments WHERE mandate_id = ? ORDER BY payment_id LIMIT ?`)
      .all(mandateId, mandateListMax)
      .map(toPayment);
  }

  hasPaidMerchant(mandateId: string, merchantId: string): boolean {
    return (
      this.statements.sql<[string, string], number>("SELECT 1 FROM agent_payments WHERE mandate_id = ? AND merchant_id = ? LIMIT 1").pluck().get(mandateId, merchantId) !==
      undefined
    );
  }

  addRefund(paymentId: number, amountMinor: number): void {
    const result = this.statements
      .sql<[number, number, number]>("UPDATE agent_payments SET refunded_minor = refunded_minor + ? WHERE payment_id = ? AND refunded_minor + ? <= amount_minor")
      .run(amountMinor, paymentId, amountMinor);
    assert(result.changes === 1, `agent payment ${paymentId} has ${amountMinor} left to refund`);
  }
}
