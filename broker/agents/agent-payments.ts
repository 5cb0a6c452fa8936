import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { AgentPayment, OpenMandate, MandateRevoke } from "../../protocol/mandates.ts";
import { formatMoney } from "../../protocol/money.ts";
import { approvedVerdict, maskPayer, type RequestSummary, type Verdict } from "../decisions/verdicts.ts";
import { merchantAccountId, walletAccountId, type Ledger } from "../ledger/ledger.ts";
import type { Registry } from "../registry/registry.ts";
import type { ReviewDesk } from "../review/review-desk.ts";
import type { HeldPayment } from "../review/review-store.ts";
import { reviewSignals, type ReviewPolicy, type RiskSignal } from "../review/risk.ts";
import type { MandateRecord, MandateStore } from "./mandate-store.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export type AgentHeld = Extract<HeldPayment, { source: "agent" }>;

export interface AgentPaymentsDeps {
  db: SqlDb;
  registry: Registry;
  ledger: Ledger;
  mandates: MandateStore;
  desk: ReviewDesk;
  policy: ReviewPolicy;
  /** Where the person's consent to the mandate is recorded (and withdrawn when they revoke it). */
  consents: MandateConsents;
}

/** The privacy side of mandates (broker/privacy/personal-data.ts), in the transaction of the registration or revoke. */
export interface MandateConsents {
  mandateRegistered(walletId: string, mandateId: string, signed: Uint8Array, nowMs: number): void;
  mandateRevoked(mandateId: string, nowMs: number): void;
}

/** `agentpay-7`: receipts and disputes name agent payments apart from hub ones (`pay-7`). */
export const agentPaymentIdPrefix = "agentpay-";

/**
 * The business rules of agent payments, run inside the settlement transaction. A closed mandate that breaks
 * a constraint the person could waive (merchant, category, per-payment maximum, step-up threshold) is held
 * for their step-up, not silently declined; an expired or revoked mandate, or one whose budget it would
 * exceed, is declined. The budget test and its update are one SQL statement, so nothing can slip between.
 */
export class AgentPayments {
  constructor(private readonly deps: AgentPaymentsDeps) {}

  registerMandate(mandate: OpenMandate, signed: Uint8Array, mandateHash: Uint8Array, nowMs: number): Verdict {
    const { registry, mandates } = this.deps;
    if (mandate.expiresAt <= nowMs) throw new TapwireError(`mandate ${mandate.mandateId} already expired`, ErrorCode.MandateExpired);
    if (mandates.findMandate(mandate.mandateId)) {
      throw new TapwireError(`mandate ${mandate.mandateId} is already registered`, ErrorCode.MandateInvalid, { mandateId: mandate.mandateId });
    }
    const wallet = registry.getActiveWallet(mandate.walletId);
    if (wallet.currency !== mandate.currency) {
      throw new TapwireError(`wallet holds ${wallet.currency}, mandate is in ${mandate.currency}`, ErrorCode.CurrencyMismatch);
    }
    mandates.insertMandate(mandate, signed, mandateHash, nowMs);
    this.deps.consents.mandateRegistered(mandate.walletId, mandate.mandateId, signed, nowMs);
    return approvedVerdict();
  }

  revokeMandate(request: MandateRevoke, nowMs: number): Verdict {
    const mandate = this.activeMandate(request.mandateId, nowMs);
    if (mandate.walletId !== request.walletId) {
      throw new TapwireError(`mandate ${request.mandateId} belongs to another wallet`, ErrorCode.WalletMismatch);
    }
    this.deps.mandates.revokeMandate(mandate.mandateId, nowMs);
    this.deps.consents.mandateRevoked(mandate.mandateId, nowMs);
    return approvedVerdict();
  }

  /** Approves and posts, holds for step-up or review, or throws to decline. */
  evaluate(payment: AgentPayment, summary: RequestSummary, decisionKey: string, nowMs: number): Verdict {
    const mandate = this.activeMandate(payment.mandateId, nowMs);
    if (payment.currency !== mandate.currency) {
      throw new TapwireError(`mandate is in ${mandate.currency}, payment in ${payment.currency}`, ErrorCode.CurrencyMismatch);
    }
    this.checkBudget(mandate, payment.amountMinor);
    this.deps.registry.getMerchant(payment.merchantId);
    const held: AgentHeld = {
      source: "agent",
      agentId: payment.agentId,
      requestId: payment.requestId,
      mandateId: mandate.mandateId,
      merchantId: payment.merchantId,
      category: payment.category,
      walletId: mandate.walletId,
      amountMinor: payment.amountMinor,
      currency: payment.currency,
    };
    const unmet = unmetConstraints(mandate, payment);
    const signals = reviewSignals(
      { amountMinor: payment.amountMinor, context: payment.context, newMerchant: !this.deps.mandates.hasPaidMerchant(mandate.mandateId, payment.merchantId) },
      this.deps.policy,
    );
    if (unmet.length === 0 && signals.length === 0) return this.post(held, nowMs);
    const opening = {
      requester: { kind: "agent" as const, id: payment.agentId },
      decisionKey,
      summary,
      walletId: mandate.walletId,
      held,
      context: caseContext(payment, mandate, signals, unmet),
    };
    if (unmet.length > 0) {
      return this.deps.desk.hold({ ...opening, kind: "step_up", reason: `person must approve: ${unmet.join("; ")}`, code: ErrorCode.HeldForStepUp }, nowMs);
    }
    return this.deps.desk.hold(
      { ...opening, kind: "human_review", reason: `operator review: ${signals.map((s) => s.rule).join(", ")}`, code: ErrorCode.HeldForReview },
      nowMs,
    );
  }

  /** Spends the budget and moves the money, or changes nothing (a savepoint) and throws. */
  post(held: AgentHeld, nowMs: number): Verdict {
    return this.deps.db.transaction(() => {
      const mandate = this.activeMandate(held.mandateId, nowMs);
      const wallet = this.deps.registry.getWallet(held.walletId);
      if (held.amountMinor > wallet.perPaymentMaxMinor) {
        throw new TapwireError(`amount ${held.amountMinor} above the wallet's per-payment limit ${wallet.perPaymentMaxMinor}`, ErrorCode.LimitExceeded);
      }
      if (!this.deps.mandates.spend(mandate.mandateId, held.amountMinor)) this.checkBudget(mandate, held.amountMinor);
      const transfer = this.deps.ledger.postTransfer({
        debitAccountId: walletAccountId(held.walletId),
        creditAccountId: merchantAccountId(held.merchantId),
        amountMinor: held.amountMinor,
        currency: held.currency,
        kind: "payment",
        reference: `agents/${held.agentId}/${held.requestId}`,
      });
      const payment = this.deps.mandates.insertPayment({
        agentId: held.agentId,
        requestId: held.requestId,
        mandateId: held.mandateId,
        merchantId: held.merchantId,
        walletId: held.walletId,
        category: held.category,
        amountMinor: held.amountMinor,
        currency: held.currency,
        transferId: transfer.transferId,
        capturedAtMs: nowMs,
      });
      return approvedVerdict({
        receipt: {
          paymentId: `${agentPaymentIdPrefix}${payment.paymentId}`,
          merchantId: payment.merchantId,
          amountMinor: payment.amountMinor,
          currency: payment.currency,
          payerMasked: maskPayer(payment.walletId),
          postedAtMs: transfer.postedAtMs,
        },
      });
    })();
  }

  private activeMandate(mandateId: string, nowMs: number): MandateRecord {
    const mandate = this.deps.mandates.findMandate(mandateId);
    if (!mandate) throw new TapwireError(`no mandate ${mandateId}`, ErrorCode.UnknownMandate, { mandateId });
    if (mandate.status === "revoked") throw new TapwireError(`mandate ${mandateId} was revoked`, ErrorCode.MandateRevoked, { mandateId });
    if (nowMs < mandate.notBeforeMs || nowMs >= mandate.expiresAtMs) {
      throw new TapwireError(`mandate ${mandateId} is valid ${mandate.notBeforeMs}..${mandate.expiresAtMs}, now ${nowMs}`, ErrorCode.MandateExpired, { mandateId });
    }
    return mandate;
  }

  private checkBudget(mandate: MandateRecord, amountMinor: number): void {
    if (mandate.spentMinor + amountMinor > mandate.budgetMinor) {
      throw new TapwireError(`${amountMinor} on top of ${mandate.spentMinor} exceeds budget ${mandate.budgetMinor}`, ErrorCode.BudgetExceeded, {
        mandateId: mandate.mandateId,
      });
    }
  }
}

/** Constraints a person could waive by approving: merchant or category, per-payment maximum, step-up threshold. */
function unmetConstraints(mandate: MandateRecord, payment: AgentPayment): string[] {
  const unmet: string[] = [];
  const merchantAllowed = mandate.allowedMerchants.includes(payment.merchantId) || mandate.allowedCategories.includes(payment.category);
  if (!merchantAllowed) unmet.push(`merchant ${payment.merchantId} / category ${payment.category} not allowed`);
  if (payment.amountMinor > mandate.perPaymentMaxMinor) unmet.push(`amount above per-payment maximum ${mandate.perPaymentMaxMinor}`);
  if (mandate.stepUpAboveMinor !== undefined && payment.amountMinor > mandate.stepUpAboveMinor) {
    unmet.push(`amount above step-up threshold ${mandate.stepUpAboveMinor}`);
  }
  return unmet;
}

/** Everything the person or operator needs to decide, flattened to strings for the case record. */
function caseContext(payment: AgentPayment, mandate: MandateRecord, signals: readonly RiskSignal[], unmet: readonly string[]): Record<string, string> {
  return {
    ...(payment.context ?? {}),
    agentId: payment.agentId,
    merchantId: payment.merchantId,
    category: payment.category,
    amount: formatMoney({ amountMinor: payment.amountMinor, currency: payment.currency }),
    cart: payment.cart.summary,
    mandate: `${mandate.mandateId}: ${formatMoney({ amountMinor: mandate.spentMinor, currency: mandate.currency })} of ${formatMoney({
      amountMinor: mandate.budgetMinor,
      currency: mandate.currency,
    })} spent, per payment ≤ ${mandate.perPaymentMaxMinor}, merchants [${mandate.allowedMerchants.join(", ")}], categories [${mandate.allowedCategories.join(", ")}]`,
    riskSignals: signals.map((s) => `${s.rule}: ${s.detail}`).join("; "),
    unmetConstraints: unmet.join("; "),
  };
}
