import type { AgentPayments } from "../agents/agent-payments.ts";
import type { Verdict } from "../decisions/verdicts.ts";
import type { Registry } from "../registry/registry.ts";
import type { PaymentPoster } from "../review/review-desk.ts";
import type { HeldPayment } from "../review/review-store.ts";
import type { Captures } from "./captures.ts";
import { refundDispute, type DisputeDeps } from "./disputes.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export interface HeldPaymentDeps {
  db: SqlDb;
  registry: Registry;
  captures: Captures;
  agentPayments: AgentPayments;
  disputes: DisputeDeps;
}

/** The review desk's poster: posts what a case held, once it is approved, by the source that asked for it. */
export class HeldPayments implements PaymentPoster {
  constructor(private readonly deps: HeldPaymentDeps) {}

  /** Each in a savepoint, so a refusal leaves nothing behind. */
  post(held: HeldPayment, caseId: string, nowMs: number): Verdict {
    switch (held.source) {
      case "agent":
        return this.deps.agentPayments.post(held, nowMs);
      case "dispute":
        return refundDispute(this.deps.disputes, held.paymentId, caseId, nowMs);
      case "hub":
        return this.deps.db.transaction(() => {
          this.deps.captures.refuseVoided(held.hubId, held.requestId);
          const hub = this.deps.registry.getHub(held.hubId);
          const wallet = this.deps.registry.getWallet(held.walletId);
          return this.deps.captures.charge({ hub, requestId: held.requestId, wallet, amountMinor: held.amountMinor, currency: held.currency, mode: held.mode }, nowMs);
        })();
    }
  }
}
