import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { HubRequest, HubStepUpApproval, PaymentRequest, PaymentStatus, TagOffer } from "../../protocol/messages.ts";
import { formatMoney } from "../../protocol/money.ts";
import type { CampaignRedemptions } from "../campaigns/redemptions.ts";
import { approvedVerdict, type RequestSummary, type Verdict } from "../decisions/verdicts.ts";
import type { Hub } from "../registry/principals.ts";
import type { Registry } from "../registry/registry.ts";
import type { ReviewDesk } from "../review/review-desk.ts";
import type { ReviewStore } from "../review/review-store.ts";
import { reviewSignals, type ReviewPolicy } from "../review/risk.ts";
import { closeBatch } from "./batch-close.ts";
import { receiptOf, type Capture, type Captures } from "./captures.ts";
import type { OfflineCaptures } from "./offline-captures.ts";
import type { PayerVerifier } from "./payer-verifier.ts";
import type { SignatureChecks } from "./prechecks.ts";
import type { Refunds } from "./refunds.ts";
import { authorizationIdFor } from "../../protocol/provider.ts";
import type { ProviderApproval, ProviderOutcome } from "../providers/provider-gateway.ts";
import type { ProviderRegistry } from "../providers/provider-registry.ts";
import type { SettlementStore } from "./settlement-store.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export interface HubRequestDeps {
  db: SqlDb;
  registry: Registry;
  store: SettlementStore;
  verifiers: ReadonlyMap<string, PayerVerifier>;
  policy: ReviewPolicy;
  desk: ReviewDesk;
  reviews: ReviewStore;
  campaigns: CampaignRedemptions;
  captures: Captures;
  refunds: Refunds;
  offline: OfflineCaptures;
  providers: ProviderRegistry;
}

/** The provider's approval of exactly this payment, or the typed decline the round trip ended in. */
function approvalFor(outcome: ProviderOutcome | undefined, providerId: string, hubId: string, requestId: string): ProviderApproval {
  if (outcome === undefined) {
    throw new TapwireError(`provider ${providerId} was not asked about ${requestId}`, ErrorCode.ProviderUnavailable, { providerId });
  }
  if (!outcome.ok) throw outcome.error;
  if (outcome.providerId !== providerId || outcome.authorizationId !== authorizationIdFor(hubId, requestId)) {
    throw new TapwireError(`provider answer does not belong to ${requestId}`, ErrorCode.ProviderAnswerInvalid, { providerId });
  }
  return outcome;
}

/**
 * The pipeline's authorize step for a hub's requests, past the gates: who pays and whether a person or an
 * operator must confirm first; then the post step (captures.ts, refunds.ts, batch-close.ts, offline-captures.ts).
 * Throws a TapwireError to decline.
 */
export class HubRequests {
  constructor(private readonly deps: HubRequestDeps) {}

  /** `provider`: the answer of the paying wallet's provider, asked before the batch (provider-stage.ts). */
  authorize(hub: Hub, request: HubRequest, summary: RequestSummary, checks: SignatureChecks, nowMs: number, provider?: ProviderOutcome): Verdict {
    switch (request.type) {
      case "payment_request":
        return this.pay(hub, request, summary, checks, nowMs, provider);
      case "step_up_approval":
        return this.answerStepUp(hub, request, nowMs);
      case "refund":
        return this.deps.refunds.refund(hub, request, nowMs);
      case "reversal":
        return this.deps.refunds.reverse(hub, request, nowMs);
      case "batch_close":
        return closeBatch(this.deps.store, hub, request, nowMs);
      case "offline_capture":
        return this.deps.offline.settle(hub, request, checks, nowMs);
      case "payment_status":
        return this.paymentStatus(hub, request);
    }
  }

  /** A wallet pays a hub's tag offer (tag mode): the offer names the amount, the wallet's signature the payer. */
  payTag(hub: Hub, walletId: string, offer: TagOffer, nowMs: number): Verdict {
    this.deps.captures.refuseVoided(hub.hubId, offer.offerId);
    const wallet = this.deps.registry.getActiveWallet(walletId);
    return this.deps.captures.charge({ hub, requestId: offer.offerId, wallet, amountMinor: offer.amountMinor, currency: offer.currency, mode: "tag" }, nowMs);
  }

  /** What became of a payment the hub lost track of, answered from the books; moves no money. */
  private paymentStatus(hub: Hub, request: PaymentStatus): Verdict {
    const { store } = this.deps;
    const payment = store.findMerchantPayment(hub.merchantId, request.paymentRequestId, hub.hubId);
    if (payment?.status === "captured") {
      // The capture's own receipt, to the millisecond: evidence counts it once however many decisions repeat it.
      const campaign = this.deps.campaigns.partOf(payment.paymentId);
      return approvedVerdict({ receipt: receiptOf(payment, payment.amountMinor, store.postedAtMsOf(payment.transferId), campaign) });
    }
    if (payment || store.isVoided(hub.hubId, request.paymentRequestId)) {
      throw new TapwireError(`payment ${request.paymentRequestId} was reversed`, ErrorCode.AlreadyReversed, { paymentRequestId: request.paymentRequestId });
    }
    throw new TapwireError(`no payment ${request.paymentRequestId} for merchant ${hub.merchantId}`, ErrorCode.UnknownPayment, {
      merchantId: hub.merchantId,
      paymentRequestId: request.paymentRequestId,
    });
  }

  private pay(hub: Hub, request: PaymentRequest, summary: RequestSummary, checks: SignatureChecks, nowMs: number, provider: ProviderOutcome | undefined): Verdict {
    const { captures } = this.deps;
    captures.refuseVoided(hub.hubId, request.requestId);
    const verifier = this.deps.verifiers.get(request.payer.kind);
    if (!verifier) throw new TapwireError(`no verifier for payer kind ${request.payer.kind}`, ErrorCode.UnsupportedRequest);
    const wallet = verifier.verify(request, { registry: this.deps.registry, db: this.deps.db, hub, nowMs, checks });
    const capture = { hub, requestId: request.requestId, wallet, amountMinor: request.amountMinor, currency: request.currency, mode: request.mode };
    const merchant = captures.check(capture);
    const providerId = this.deps.providers.providerOf(wallet.walletId);
    const named = request.payer.kind === "hce" ? request.payer.providerId : undefined;
    if (named !== undefined && named !== providerId) {
      throw new TapwireError(`wallet ${wallet.walletId} is not held by provider ${named}`, ErrorCode.WalletMismatch, { walletId: wallet.walletId });
    }
    // The provider's approval is its own risk decision on exactly this amount: its payments are not held here.
    if (providerId !== undefined) return captures.captureByProvider(capture, merchant, approvalFor(provider, providerId, hub.hubId, request.requestId), nowMs);
    return this.holdForPerson(capture, request, summary, verifier.verifyPresence !== undefined, nowMs) ?? captures.captureInHouse(capture, merchant, nowMs);
  }

  /**
   * Above the hub step-up threshold a payer who can prove presence again (glasses) is asked to; risk signals
   * send a payment to the operator queue.
   */
  private holdForPerson(c: Capture, request: PaymentRequest, summary: RequestSummary, canStepUp: boolean, nowMs: number): Verdict | undefined {
    const { policy, desk } = this.deps;
    const stepUp = canStepUp && policy.hubStepUpAboveMinor !== undefined && c.amountMinor > policy.hubStepUpAboveMinor;
    const signals = reviewSignals({ amountMinor: c.amountMinor, context: request.context, newMerchant: false }, policy);
    if (!stepUp && signals.length === 0) return undefined;
    const opening = {
      requester: { kind: "hub" as const, id: c.hub.hubId },
      decisionKey: c.hub.hubId,
      summary,
      walletId: c.wallet.walletId,
      held: { source: "hub" as const, hubId: c.hub.hubId, requestId: c.requestId, walletId: c.wallet.walletId, amountMinor: c.amountMinor, currency: c.currency, mode: c.mode },
      context: {
        ...(request.context ?? {}),
        hubId: c.hub.hubId,
        merchantId: c.hub.merchantId,
        mode: c.mode,
        amount: formatMoney({ amountMinor: c.amountMinor, currency: c.currency }),
        riskSignals: signals.map((s) => `${s.rule}: ${s.detail}`).join("; "),
      },
    };
    if (stepUp) {
      return desk.hold({ ...opening, kind: "step_up", reason: `person must confirm: above ${policy.hubStepUpAboveMinor}`, code: ErrorCode.HeldForStepUp }, nowMs);
    }
    return desk.hold({ ...opening, kind: "human_review", reason: `operator review: ${signals.map((s) => s.rule).join(", ")}`, code: ErrorCode.HeldForReview }, nowMs);
  }

  /** The person at a glasses hub confirms a held payment with a fresh proof of presence (or says no). */
  private answerStepUp(hub: Hub, request: HubStepUpApproval, nowMs: number): Verdict {
    const caseId = request.caseId ?? this.deps.reviews.findLatestFor(hub.hubId, request.paymentRequestId)?.caseId;
    if (caseId === undefined) throw new TapwireError(`no step-up case for ${request.paymentRequestId}`, ErrorCode.ReviewNotFound, { paymentRequestId: request.paymentRequestId });
    const held = this.deps.desk.requirePending(caseId, nowMs);
    if (held.held.source !== "hub" || held.held.hubId !== hub.hubId || held.held.requestId !== request.paymentRequestId) {
      throw new TapwireError(`case ${held.caseId} does not hold payment ${request.paymentRequestId} of hub ${hub.hubId}`, ErrorCode.ApprovalInvalid);
    }
    const answer = request.answer ?? "approve";
    if (answer === "approve") {
      const verifier = this.deps.verifiers.get(request.payer.kind);
      if (!verifier?.verifyPresence) throw new TapwireError(`payer kind ${request.payer.kind} cannot confirm a step-up`, ErrorCode.UnsupportedRequest);
      const wallet = verifier.verifyPresence(request.payer, { registry: this.deps.registry, db: this.deps.db, hub, nowMs });
      if (wallet.walletId !== held.walletId) throw new TapwireError(`case ${held.caseId} belongs to another wallet`, ErrorCode.WalletMismatch);
    }
    return this.deps.desk.answerStepUp(held.caseId, held.walletId, answer, { kind: "hub", id: hub.hubId }, nowMs).verdict;
  }
}
