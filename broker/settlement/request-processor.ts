import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import type { BatchClose, HubRequest, HubStepUpApproval, PaymentRequest, PaymentStatus, RefundRequest, ReversalRequest } from "../../protocol/messages.ts";
import { formatMoney } from "../../protocol/money.ts";
import { principalName } from "../../protocol/topics.ts";
import type { AgentPayments } from "../agents/agent-payments.ts";
import type { AgentRegistry } from "../agents/agent-registry.ts";
import type { MandateStore } from "../agents/mandate-store.ts";
import { giveBackLegs, paymentLegs } from "../campaigns/campaign-legs.ts";
import { campaignPaymentModes, noCampaign, type CampaignPart, type CampaignRedemptions, type Pricing } from "../campaigns/redemptions.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { SqliteDb } from "../ledger/sqlite-db.ts";
import type { Hub, Merchant, Registry, Wallet } from "../registry/registry.ts";
import { refundDispute, type DisputeDeps } from "../review/disputes.ts";
import type { ReviewDesk } from "../review/review-desk.ts";
import type { HeldPayment, ReviewStore } from "../review/review-store.ts";
import { reviewSignals, type ReviewPolicy } from "../review/risk.ts";
import type { Admission, Recipient } from "./admission.ts";
import { outboundOf, type Answerer, type Outbound, type ReceivedRequest } from "./answers.ts";
import { ClientRequests, decide, sameBytes } from "./client-requests.ts";
import { approvedVerdict, declinedVerdict, maskPayer, type DecisionSigner, type RequestSummary, type Verdict } from "./decisions.ts";
import { OfflineCaptures } from "./offline-captures.ts";
import type { OfflineStore } from "./offline-store.ts";
import type { PayerVerifier } from "./payer-verifier.ts";
import type { SignatureChecks } from "./prechecks.ts";
import type { PaymentRecord, SettlementStore, StoredDecision } from "./settlement-store.ts";

export type { Outbound } from "./answers.ts";

export interface ProcessorDeps {
  db: SqliteDb;
  registry: Registry;
  ledger: Ledger;
  store: SettlementStore;
  offline: OfflineStore;
  signer: DecisionSigner;
  verifiers: ReadonlyMap<string, PayerVerifier>;
  clockSkewMs: number;
  requestLifetimeMsMax: number;
  answerer: Answerer;
  desk: ReviewDesk;
  reviews: ReviewStore;
  policy: ReviewPolicy;
  agentPayments: AgentPayments;
  agents: AgentRegistry;
  mandates: MandateStore;
  disputes: DisputeDeps;
  campaigns: CampaignRedemptions;
}

export interface Capture {
  hub: Hub;
  requestId: string;
  wallet: Wallet;
  amountMinor: number;
  currency: string;
  mode: string;
}

/** A request that passed every replay gate, or the stored answer to an identical earlier one. */
type Gate = { replay: StoredDecision } | { hub: Hub };

/**
 * Phase two, inside the batch transaction. Gates (revocation, time, idempotency, seq, nonce) refuse without
 * storing anything; a request through the gates is accepted: its seq/nonce is consumed, it is executed, and
 * its decision — approved or declined — is signed and stored under (hubId, requestId) before the commit.
 */
export class RequestProcessor {
  private readonly clients: ClientRequests;
  private readonly offline: OfflineCaptures;
  private readonly savepoint: (work: () => Verdict) => Verdict;

  constructor(private readonly deps: ProcessorDeps) {
    this.savepoint = deps.db.transaction((work: () => Verdict) => work());
    this.offline = new OfflineCaptures({
      db: deps.db,
      registry: deps.registry,
      offline: deps.offline,
      clockSkewMs: deps.clockSkewMs,
      refuseVoided: (hubId, requestId) => this.refuseVoided(hubId, requestId),
      post: (capture, nowMs) => this.capture(capture, this.checkCapture(capture), nowMs),
    });
    this.clients = new ClientRequests({
      agents: deps.agents,
      mandates: deps.mandates,
      store: deps.store,
      answerer: deps.answerer,
      desk: deps.desk,
      agentPayments: deps.agentPayments,
      disputes: deps.disputes,
      clockSkewMs: deps.clockSkewMs,
      checkTimes: (iatMs, expMs, nowMs) => this.checkTimes(iatMs, expMs, nowMs),
      refuse: (summary, error, recipients, request, nowMs) => this.refuseVerified(summary, error, recipients, request, nowMs),
    });
  }

  process(admission: Admission, nowMs: number): Outbound[] {
    switch (admission.outcome) {
      case "refused":
        return this.refuse(admission.summary, admission.error, admission.recipients, nowMs);
      case "hub_request":
        return this.processHubRequest(admission, nowMs);
      case "wallet_tag":
        return this.processWalletTag(admission, nowMs);
      case "wallet_request":
        return this.clients.processWalletRequest(admission, nowMs);
      case "agent_payment":
        return this.clients.processAgentPayment(admission, nowMs);
    }
  }

  /**
   * A declined decision that is signed but never stored: replays, forgeries, malformed input, overload, storage
   * faults. `retryAfterMs` goes with the declines that ask for a later retry of the same bytes.
   */
  refuse(summary: RequestSummary, error: TapwireError, recipients: readonly Recipient[], nowMs: number, retryAfterMs?: number): Outbound[] {
    const signed = this.deps.signer.sign(summary, declinedVerdict(error, retryAfterMs), nowMs);
    return recipients.map((r) => ({ kind: r.kind, id: r.id, payload: signed.bytes, expiresAtMs: signed.expMs }));
  }

  /** A gate refusal of a verified request: answered like `refuse`, and kept as evidence. */
  refuseVerified(summary: RequestSummary, error: TapwireError, recipients: readonly Recipient[], request: ReceivedRequest, nowMs: number): Outbound[] {
    const signed = this.deps.answerer.record(summary, declinedVerdict(error), request, nowMs);
    return recipients.map((r) => ({ kind: r.kind, id: r.id, payload: signed.bytes, expiresAtMs: signed.expMs }));
  }

  private processHubRequest(a: Extract<Admission, { outcome: "hub_request" }>, nowMs: number): Outbound[] {
    const { request, summary } = a;
    const sender: Recipient[] = [{ kind: "hub", id: a.hubId }];
    let gate: Gate;
    try {
      gate = this.hubRequestGate(a, nowMs);
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      return this.refuseVerified(summary, error, sender, { principal: principalName({ kind: "hub", id: a.hubId }), bytes: a.bytes }, nowMs);
    }
    if ("replay" in gate) return outboundOf(gate.replay);
    const hub = gate.hub;
    const verdict = decide(() => this.executeHubRequest(hub, request, summary, a.checks, nowMs));
    return this.accept(summary, verdict, undefined, principalName({ kind: "hub", id: a.hubId }), a.bytes, nowMs);
  }

  private hubRequestGate({ hubId, request, hash }: Extract<Admission, { outcome: "hub_request" }>, nowMs: number): Gate {
    const { registry, store } = this.deps;
    // A retry of a request already decided gets that decision back even once it has expired: answering
    // "declined, expired" for a payment that was captured would tell the hub the customer was not charged.
    const stored = store.findDecision(hubId, request.requestId);
    if (stored && sameBytes(stored.bodyHash, hash)) return { replay: stored };
    // The usual request passes every gate: its seq is consumed and its hub read in one statement.
    const hub = stored || this.timesError(request.iat, request.exp, nowMs) ? undefined : registry.advanceHubSeq(hubId, request.seq);
    if (hub) return { hub };
    throw this.hubRequestRefusal(hubId, request, stored, nowMs);
  }

  /** Why a hub request was refused at the gate, by the first gate it fails in their usual order. */
  private hubRequestRefusal(hubId: string, request: HubRequest, stored: StoredDecision | undefined, nowMs: number): TapwireError {
    const hub = this.deps.registry.getActiveHub(hubId);
    this.checkTimes(request.iat, request.exp, nowMs);
    if (stored) {
      return new TapwireError(`request id ${request.requestId} was used for a different request`, ErrorCode.RequestIdReused, {
        hubId,
        requestId: request.requestId,
      });
    }
    assert(request.seq <= hub.lastSeq, `hub ${hubId} seq ${request.seq} passed every gate but was not consumed`);
    return new TapwireError(`seq ${request.seq} is not above ${hub.lastSeq}`, ErrorCode.SeqReplayed, { hubId, seq: request.seq });
  }

  private processWalletTag(a: Extract<Admission, { outcome: "wallet_tag" }>, nowMs: number): Outbound[] {
    let gate: Gate;
    try {
      gate = this.walletTagGate(a, nowMs);
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      const wallet = { kind: "wallet" as const, id: a.walletId };
      return this.refuseVerified(a.summary, error, [wallet], { principal: principalName(wallet), bytes: a.bytes }, nowMs);
    }
    if ("replay" in gate) return outboundOf(gate.replay);
    const hub = gate.hub;
    const { offer } = a;
    const verdict = decide(() => {
      this.refuseVoided(hub.hubId, offer.offerId);
      const wallet = this.deps.registry.getWallet(a.walletId);
      const capture = { hub, requestId: offer.offerId, wallet, amountMinor: offer.amountMinor, currency: offer.currency, mode: "tag" };
      return this.capture(capture, this.checkCapture(capture), nowMs);
    });
    return this.accept(a.summary, verdict, a.walletId, principalName({ kind: "wallet", id: a.walletId }), a.bytes, nowMs);
  }

  private walletTagGate({ hubId, walletId, message, offer, hash }: Extract<Admission, { outcome: "wallet_tag" }>, nowMs: number): Gate {
    const { registry, store } = this.deps;
    const stored = store.findDecision(hubId, offer.offerId);
    if (stored && sameBytes(stored.bodyHash, hash)) return { replay: stored };
    const hub = registry.getActiveHub(hubId);
    this.checkTimes(offer.iat, offer.exp, nowMs);
    if (message.iat > nowMs + this.deps.clockSkewMs) {
      throw new TapwireError(`wallet message iat ${message.iat} is ahead of ${nowMs}`, ErrorCode.MessageNotYetValid, { walletId });
    }
    if (store.isNonceConsumed(hubId, offer.nonce)) {
      throw new TapwireError(`offer nonce of ${offer.offerId} was already used`, ErrorCode.NonceReplayed, { hubId, offerId: offer.offerId });
    }
    if (stored) {
      throw new TapwireError(`request id ${offer.offerId} was used for a different request`, ErrorCode.RequestIdReused, {
        hubId,
        requestId: offer.offerId,
      });
    }
    store.consumeNonce(hubId, offer.nonce, offer.offerId, walletId, nowMs);
    return { hub };
  }

  private checkTimes(iatMs: number, expMs: number, nowMs: number): void {
    const error = this.timesError(iatMs, expMs, nowMs);
    if (error) throw error;
  }

  private timesError(iatMs: number, expMs: number, nowMs: number): TapwireError | undefined {
    if (expMs <= iatMs) return new TapwireError(`exp ${expMs} is not after iat ${iatMs}`, ErrorCode.SchemaInvalid);
    if (expMs <= nowMs) return new TapwireError(`expired at ${expMs}, now ${nowMs}`, ErrorCode.MessageExpired);
    if (iatMs > nowMs + this.deps.clockSkewMs) {
      return new TapwireError(`iat ${iatMs} is more than ${this.deps.clockSkewMs} ms ahead of ${nowMs}`, ErrorCode.MessageNotYetValid);
    }
    if (expMs - iatMs > this.deps.requestLifetimeMsMax) {
      return new TapwireError(`lifetime ${expMs - iatMs} ms above ${this.deps.requestLifetimeMsMax} ms`, ErrorCode.MessageLifetimeTooLong);
    }
    return undefined;
  }

  private accept(summary: RequestSummary, verdict: Verdict, walletId: string | undefined, principal: string, bytes: Uint8Array, nowMs: number): Outbound[] {
    return outboundOf(this.deps.answerer.accept(summary.hubId, summary, verdict, { principal, bytes }, walletId, nowMs));
  }

  private executeHubRequest(hub: Hub, request: HubRequest, summary: RequestSummary, checks: SignatureChecks, nowMs: number): Verdict {
    switch (request.type) {
      case "payment_request":
        return this.pay(hub, request, summary, checks, nowMs);
      case "step_up_approval":
        return this.answerStepUp(hub, request, nowMs);
      case "refund":
        return this.refund(hub, request, nowMs);
      case "reversal":
        return this.reverse(hub, request, nowMs);
      case "batch_close":
        return this.closeBatch(hub, request, nowMs);
      case "offline_capture":
        return this.offline.settle(hub, request, checks, nowMs);
      case "payment_status":
        return this.paymentStatus(hub, request);
    }
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

  private pay(hub: Hub, request: PaymentRequest, summary: RequestSummary, checks: SignatureChecks, nowMs: number): Verdict {
    this.refuseVoided(hub.hubId, request.requestId);
    const verifier = this.deps.verifiers.get(request.payer.kind);
    if (!verifier) throw new TapwireError(`no verifier for payer kind ${request.payer.kind}`, ErrorCode.UnsupportedRequest);
    const wallet = verifier.verify(request, { registry: this.deps.registry, db: this.deps.db, hub, nowMs, checks });
    const capture = { hub, requestId: request.requestId, wallet, amountMinor: request.amountMinor, currency: request.currency, mode: request.mode };
    const merchant = this.checkCapture(capture);
    return this.holdForPerson(capture, request, summary, verifier.verifyPresence !== undefined, nowMs) ?? this.capture(capture, merchant, nowMs);
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

  /** Posts what a case held, once it is approved: a savepoint, so a refusal leaves nothing behind. */
  postHeld(held: HeldPayment, caseId: string, nowMs: number): Verdict {
    switch (held.source) {
      case "agent":
        return this.deps.agentPayments.post(held, nowMs);
      case "dispute":
        return refundDispute(this.deps.disputes, held.paymentId, caseId, nowMs);
      case "hub":
        return this.deps.db.transaction(() => {
          this.refuseVoided(held.hubId, held.requestId);
          const hub = this.deps.registry.getHub(held.hubId);
          const wallet = this.deps.registry.getWallet(held.walletId);
          const capture = { hub, requestId: held.requestId, wallet, amountMinor: held.amountMinor, currency: held.currency, mode: held.mode };
          return this.capture(capture, this.checkCapture(capture), nowMs);
        })();
    }
  }

  private refuseVoided(hubId: string, requestId: string): void {
    if (this.deps.store.isVoided(hubId, requestId)) {
      throw new TapwireError(`payment ${requestId} was reversed before it arrived`, ErrorCode.Cancelled, { hubId, requestId });
    }
  }

  /** Returns the merchant it checked, for the capture that follows. */
  private checkCapture(c: Capture): Merchant {
    const merchant = this.deps.registry.getMerchant(c.hub.merchantId);
    for (const [holder, currency] of [
      [`wallet ${c.wallet.walletId}`, c.wallet.currency],
      [`merchant ${merchant.merchantId}`, merchant.currency],
    ] as const) {
      if (currency !== c.currency) {
        throw new TapwireError(`${holder} holds ${currency}, payment is in ${c.currency}`, ErrorCode.CurrencyMismatch);
      }
    }
    if (c.amountMinor > c.wallet.perPaymentMaxMinor) {
      throw new TapwireError(`amount ${c.amountMinor} above per-payment limit ${c.wallet.perPaymentMaxMinor}`, ErrorCode.LimitExceeded, {
        walletId: c.wallet.walletId,
      });
    }
    return merchant;
  }

  /**
   * `merchant` is what checkCapture(c) returned, in this transaction. A payment some campaign qualifies for is
   * priced and posted in a savepoint, so the budget its discount took goes back with everything else if the
   * payment then fails (funds); one no campaign qualifies for posts as it always did.
   */
  private capture(c: Capture, merchant: Merchant, nowMs: number): Verdict {
    const { campaigns } = this.deps;
    const candidates = campaignPaymentModes.has(c.mode)
      ? campaigns.candidatesFor({ merchantId: merchant.merchantId, walletId: c.wallet.walletId, amountMinor: c.amountMinor, currency: c.currency }, nowMs)
      : [];
    if (candidates.length === 0) return this.post(c, merchant, noCampaign, nowMs);
    return this.savepoint(() => this.post(c, merchant, campaigns.price(candidates, c.wallet.walletId, nowMs), nowMs));
  }

  /** The payment's legs (campaign-legs.ts) under one posting time, its record, and what the campaign gave it. */
  private post(c: Capture, merchant: Merchant, pricing: Pricing, nowMs: number): Verdict {
    const { ledger, store } = this.deps;
    const parties = { walletId: c.wallet.walletId, merchantId: merchant.merchantId, currency: c.currency, reference: `${c.hub.hubId}/${c.requestId}` };
    const [paid, discounted] = ledger.postLinked(paymentLegs(parties, c.amountMinor, pricing));
    assert(paid, "a payment posts its customer leg");
    const payment = store.insertPayment({
      hubId: c.hub.hubId,
      requestId: c.requestId,
      merchantId: merchant.merchantId,
      walletId: c.wallet.walletId,
      mode: c.mode,
      amountMinor: c.amountMinor,
      currency: c.currency,
      transferId: paid.transferId,
      capturedAtMs: nowMs,
    });
    const campaign = this.deps.campaigns.record(payment.paymentId, c.wallet.walletId, pricing, discounted?.transferId, nowMs);
    const receipt = receiptOf(payment, c.amountMinor, paid.postedAtMs, campaign);
    if (pricing.outcome !== "exhausted") return approvedVerdict({ receipt });
    const stopped = pricing.stopped ? "; campaign stopped" : "";
    return { status: "approved", code: 0, reason: `approved at full price: campaign ${pricing.campaignId} budget exhausted${stopped}`, receipt };
  }

  private findPayment(hub: Hub, paymentRequestId: string): PaymentRecord {
    const payment = this.deps.store.findMerchantPayment(hub.merchantId, paymentRequestId, hub.hubId);
    if (!payment) {
      throw new TapwireError(`no payment ${paymentRequestId} for merchant ${hub.merchantId}`, ErrorCode.UnknownPayment, {
        merchantId: hub.merchantId,
        paymentRequestId,
      });
    }
    return payment;
  }

  private refund(hub: Hub, request: RefundRequest, nowMs: number): Verdict {
    const payment = this.findPayment(hub, request.paymentRequestId);
    if (request.currency !== payment.currency) {
      throw new TapwireError(`payment is in ${payment.currency}, refund in ${request.currency}`, ErrorCode.CurrencyMismatch);
    }
    if (payment.status === "reversed") {
      throw new TapwireError(`payment ${payment.requestId} was reversed`, ErrorCode.AlreadyReversed, { paymentRequestId: payment.requestId });
    }
    if (payment.refundedMinor + request.amountMinor > payment.amountMinor) {
      throw new TapwireError(
        `refund ${request.amountMinor} on top of ${payment.refundedMinor} exceeds captured ${payment.amountMinor}`,
        ErrorCode.RefundExceedsCaptured,
        { paymentRequestId: payment.requestId },
      );
    }
    const back = this.giveBack(payment, request.amountMinor, "refund", `${hub.hubId}/${request.requestId}`);
    this.deps.store.addRefund(payment, hub.hubId, request.requestId, request.amountMinor, back.transferId, nowMs);
    return approvedVerdict({ receipt: receiptOf(payment, request.amountMinor, back.postedAtMs, back.campaign) });
  }

  /** Returns what is left of a captured payment; a payment that never arrived is voided so it cannot be charged later. */
  private reverse(hub: Hub, request: ReversalRequest, nowMs: number): Verdict {
    const { store } = this.deps;
    const payment = store.findMerchantPayment(hub.merchantId, request.paymentRequestId, hub.hubId);
    if (!payment) {
      if (store.isVoided(hub.hubId, request.paymentRequestId)) {
        throw new TapwireError(`payment ${request.paymentRequestId} is already voided`, ErrorCode.AlreadyReversed);
      }
      store.addVoid(hub.hubId, request.paymentRequestId, request.requestId, nowMs);
      return approvedVerdict();
    }
    const remainingMinor = payment.amountMinor - payment.refundedMinor;
    if (payment.status === "reversed" || remainingMinor === 0) {
      throw new TapwireError(`payment ${payment.requestId} has nothing left to reverse`, ErrorCode.AlreadyReversed, {
        paymentRequestId: payment.requestId,
      });
    }
    const back = this.giveBack(payment, remainingMinor, "reversal", `${hub.hubId}/${request.requestId}`);
    store.markReversed(payment.paymentId, nowMs);
    return approvedVerdict({ receipt: receiptOf(payment, remainingMinor, back.postedAtMs, back.campaign) });
  }

  /**
   * Gives amountMinor of a payment back, on top of what refunds gave before. Of a discounted payment the
   * campaign gets its proportional share (campaign-rules.ts campaignShareOf) and the customer the rest, as
   * linked legs; `transferId` is the first leg's, for the refund record.
   */
  private giveBack(payment: PaymentRecord, amountMinor: number, kind: string, reference: string): { transferId: number; postedAtMs: number; campaign: CampaignPart | undefined } {
    const { campaigns, ledger } = this.deps;
    const back = campaigns.shareOf(payment.paymentId, payment.amountMinor, payment.refundedMinor, amountMinor);
    const [first] = ledger.postLinked(giveBackLegs({ ...payment, reference }, amountMinor, kind, back));
    assert(first, `giving back ${amountMinor} posts at least one leg`);
    if (back) campaigns.settleGiveBack(payment.paymentId, back);
    return { transferId: first.transferId, postedAtMs: first.postedAtMs, campaign: back && { campaignId: back.campaignId, discountMinor: back.shareMinor } };
  }

  private closeBatch(hub: Hub, request: BatchClose, nowMs: number): Verdict {
    const { store } = this.deps;
    if (store.findBatch(hub.hubId, request.batchId)?.matched) {
      throw new TapwireError(`batch ${request.batchId} is already closed`, ErrorCode.BatchAlreadyClosed, { batchId: request.batchId });
    }
    const service = store.unbatchedTotals(hub.hubId, hub.merchantId, request.currency);
    const matched = service.count === request.count && service.totalMinor === request.totalMinor;
    const batch = {
      batchId: request.batchId,
      currency: request.currency,
      hubCount: request.count,
      hubTotalMinor: request.totalMinor,
      serviceCount: service.count,
      serviceTotalMinor: service.totalMinor,
      matched,
    };
    store.saveBatch({ ...batch, hubId: hub.hubId, merchantId: hub.merchantId, requestId: request.requestId, closedAtMs: nowMs });
    if (matched) {
      store.assignBatch(hub.hubId, hub.merchantId, request.currency, request.batchId);
      return approvedVerdict({ batch });
    }
    return {
      status: "human_review",
      code: ErrorCode.BatchMismatch,
      reason: `hub counts ${request.count}/${request.totalMinor}, service ${service.count}/${service.totalMinor}`,
      batch,
      caseId: request.batchId,
    };
  }
}

function receiptOf(payment: PaymentRecord, amountMinor: number, postedAtMs: number, campaign: CampaignPart | undefined) {
  return {
    paymentId: `pay-${payment.paymentId}`,
    merchantId: payment.merchantId,
    amountMinor,
    currency: payment.currency,
    payerMasked: maskPayer(payment.walletId),
    postedAtMs,
    ...(campaign ? { discountMinor: campaign.discountMinor, campaignId: campaign.campaignId } : {}),
  };
}
