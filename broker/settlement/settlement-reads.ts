import type { KeyObject } from "node:crypto";
import type { CaseKind, CaseStatus } from "../../protocol/review.ts";
import type { AgentPaymentRecord, MandateRecord } from "../agents/mandate-store.ts";
import type { CampaignAdmin } from "../campaigns/campaign-admin.ts";
import { verifyEvidenceDb, type EvidenceReport } from "../evidence/verify-evidence.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { Registry } from "../registry/registry.ts";
import type { RateTable } from "../fx/rate-table.ts";
import type { ProviderRegistry } from "../providers/provider-registry.ts";
import type { OperatorStore } from "../operators/operator-store.ts";
import type { RevokedCertificates } from "../registry/revoked-certificates.ts";
import { caseListMax, type ReviewCase } from "../review/review-store.ts";
import type { RunningParts } from "./composition.ts";
import type { OfflineLoss } from "./offline-store.ts";
import { settlementListMax, type BatchRecord, type PaymentRecord } from "./settlement-store.ts";
import type { SqlDb } from "../../core/sql-db.ts";

/**
 * The read facade: what the CLI, the dashboard and the tests look at in a running service. Reads only, outside
 * any batch; SettlementService extends it with the lifecycle and the request entry.
 */
export abstract class SettlementReads {
  /** The running parts; ServiceUnavailable when the service is not started. */
  protected abstract started(): RunningParts;

  /** The key hubs and wallets verify decisions with. */
  abstract get publicKey(): KeyObject;

  get ledger(): Ledger {
    return this.started().ledger;
  }

  /** Every principal: merchants, hubs, wallets and agents. */
  get registry(): Registry {
    return this.started().registry;
  }

  /** Enrolled agents (their MQTT identities): the same registry as `registry`, under the name agent tools use. */
  get agents(): Registry {
    return this.started().registry;
  }

  /**
   * The settlement database, for modules that keep their own tables in it (declared via schemaComponents)
   * so their writes join the same transactions, e.g. a glasses payer verifier's pairings.
   */
  get database(): SqlDb {
    return this.started().db;
  }

  /** Promotions with a hard budget: define, stop, list (an operator's tools; payments use them in the batch). */
  get campaigns(): CampaignAdmin {
    return this.started().campaigns;
  }

  /** The FX rate table quotes are locked from (`tapwire fx load`, `tapwire fx list`). */
  get fxRates(): RateTable {
    return this.started().rates;
  }

  /** Wallet providers (`providers/<id>`) and the wallets each holds. */
  get providers(): ProviderRegistry {
    return this.started().providers;
  }

  /** People who act from the console (operators/<name>): enrol, check a login, revoke. */
  get operators(): OperatorStore {
    return this.started().operators;
  }

  /** The certificate serials the broker refuses (a rotated hub's old certificate). */
  get revokedCertificates(): RevokedCertificates {
    return this.started().revokedCertificates;
  }

  /** Signature-check workers loaded and taking jobs (they load in the background after start). */
  get verifyWorkersReady(): number {
    return this.started().work.prechecks?.pool.workersReady ?? 0;
  }

  paymentsOf(merchantId: string, limit = settlementListMax): PaymentRecord[] {
    return this.started().store.paymentsOf(merchantId, limit);
  }

  findPayment(hubId: string, requestId: string): PaymentRecord | undefined {
    return this.started().store.findPayment(hubId, requestId);
  }

  batchReportsOf(hubId: string, limit = settlementListMax): BatchRecord[] {
    return this.started().store.batchReportsOf(hubId, limit);
  }

  /** Offline sales declined when forwarded, oldest first: of one merchant, or of all (at most `limit`). */
  offlineLosses(filter: { merchantId?: string; limit?: number } = {}): OfflineLoss[] {
    return this.started().offline.losses({ ...filter, limit: filter.limit ?? settlementListMax });
  }

  findMandate(mandateId: string): MandateRecord | undefined {
    return this.started().mandates.findMandate(mandateId);
  }

  mandatesOf(walletId: string): MandateRecord[] {
    return this.started().mandates.mandatesOf(walletId);
  }

  agentPaymentsOf(mandateId: string): AgentPaymentRecord[] {
    return this.started().mandates.paymentsOfMandate(mandateId);
  }

  listReviews(filter: { status?: CaseStatus; kind?: CaseKind; limit?: number } = {}): ReviewCase[] {
    return this.started().reviews.list({ ...filter, limit: filter.limit ?? caseListMax });
  }

  findReview(caseId: string): ReviewCase | undefined {
    return this.started().reviews.find(caseId);
  }

  /** Checks this database's evidence offline-style: chain, signatures, answered requests, ledger. */
  verifyEvidence(): EvidenceReport {
    return verifyEvidenceDb(this.started().db, this.publicKey);
  }
}
