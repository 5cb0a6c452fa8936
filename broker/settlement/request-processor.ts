import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import type { BatchClose, HubRequest, PaymentRequest, RefundRequest, ReversalRequest } from "../../protocol/messages.ts";
import { merchantAccountId, walletAccountId, type Ledger } from "../ledger/ledger.ts";
import type { SqliteDb } from "../ledger/sqlite-db.ts";
import type { Hub, Registry, Wallet } from "../registry/registry.ts";
import type { Admission, Recipient } from "./admission.ts";
import { approvedVerdict, declinedVerdict, maskPayer, type DecisionSigner, type RequestSummary, type Verdict } from "./decisions.ts";
import type { PayerVerifier } from "./payer-verifier.ts";
import type { PaymentRecord, SettlementStore, StoredDecision } from "./settlement-store.ts";

/** One signed decision addressed to one principal; the broker publishes it on that principal's `res` topic. */
export interface Outbound {
  kind: Recipient["kind"];
  id: string;
  /** COSE_Sign1 Decision signed by the service key. */
  payload: Buffer;
  /** The decision's own `exp`: publish with a message expiry that ends here. */
  expiresAtMs: number;
}

export interface ProcessorDeps {
  db: SqliteDb;
  registry: Registry;
  ledger: Ledger;
  store: SettlementStore;
  signer: DecisionSigner;
  verifiers: ReadonlyMap<string, PayerVerifier>;
  clockSkewMs: number;
  requestLifetimeMsMax: number;
}

interface Capture {
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
  constructor(private readonly deps: ProcessorDeps) {}

  process(admission: Admission, nowMs: number): Outbound[] {
    switch (admission.outcome) {
      case "refused":
        return this.refuse(admission.summary, admission.error, admission.recipients, nowMs);
      case "hub_request":
        return this.processHubRequest(admission, nowMs);
      case "wallet_tag":
        return this.processWalletTag(admission, nowMs);
    }
  }

  /** A declined decision that is signed but never stored: replays, forgeries, malformed input, overload. */
  refuse(summary: RequestSummary, error: TapwireError, recipients: readonly Recipient[], nowMs: number): Outbound[] {
    const signed = this.deps.signer.sign(summary, declinedVerdict(error), nowMs);
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
      return this.refuse(summary, error, sender, nowMs);
    }
    if ("replay" in gate) return replayed(gate.replay);
    const hub = gate.hub;
    const verdict = decide(() => this.executeHubRequest(hub, request, nowMs));
    return this.accept(summary, verdict, undefined, nowMs);
  }

  private hubRequestGate({ hubId, request, hash }: Extract<Admission, { outcome: "hub_request" }>, nowMs: number): Gate {
    const { registry, store } = this.deps;
    const hub = registry.getActiveHub(hubId);
    this.checkTimes(request.iat, request.exp, nowMs);
    const stored = store.findDecision(hubId, request.requestId);
    if (stored) {
      if (sameBytes(stored.bodyHash, hash)) return { replay: stored };
      throw new TapwireError(`request id ${request.requestId} was used for a different request`, ErrorCode.RequestIdReused, {
        hubId,
        requestId: request.requestId,
      });
    }
    if (request.seq <= hub.lastSeq) {
      throw new TapwireError(`seq ${request.seq} is not above ${hub.lastSeq}`, ErrorCode.SeqReplayed, { hubId, seq: request.seq });
    }
    registry.recordHubSeq(hubId, request.seq);
    return { hub: { ...hub, lastSeq: request.seq } };
  }

  private processWalletTag(a: Extract<Admission, { outcome: "wallet_tag" }>, nowMs: number): Outbound[] {
    let gate: Gate;
    try {
      gate = this.walletTagGate(a, nowMs);
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      return this.refuse(a.summary, error, [{ kind: "wallet", id: a.walletId }], nowMs);
    }
    if ("replay" in gate) return replayed(gate.replay);
    const hub = gate.hub;
    const { offer } = a;
    const verdict = decide(() => {
      this.refuseVoided(hub.hubId, offer.offerId);
      const wallet = this.deps.registry.getWallet(a.walletId);
      return this.capture({ hub, requestId: offer.offerId, wallet, amountMinor: offer.amountMinor, currency: offer.currency, mode: "tag" }, nowMs);
    });
    return this.accept(a.summary, verdict, a.walletId, nowMs);
  }

  private walletTagGate({ hubId, walletId, message, offer, hash }: Extract<Admission, { outcome: "wallet_tag" }>, nowMs: number): Gate {
    const { registry, store } = this.deps;
    const hub = registry.getActiveHub(hubId);
    this.checkTimes(offer.iat, offer.exp, nowMs);
    if (message.iat > nowMs + this.deps.clockSkewMs) {
      throw new TapwireError(`wallet message iat ${message.iat} is ahead of ${nowMs}`, ErrorCode.MessageNotYetValid, { walletId });
    }
    const stored = store.findDecision(hubId, offer.offerId);
    if (stored && sameBytes(stored.bodyHash, hash)) return { replay: stored };
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
    if (expMs <= iatMs) throw new TapwireError(`exp ${expMs} is not after iat ${iatMs}`, ErrorCode.SchemaInvalid);
    if (expMs <= nowMs) throw new TapwireError(`expired at ${expMs}, now ${nowMs}`, ErrorCode.MessageExpired);
    if (iatMs > nowMs + this.deps.clockSkewMs) {
      throw new TapwireError(`iat ${iatMs} is more than ${this.deps.clockSkewMs} ms ahead of ${nowMs}`, ErrorCode.MessageNotYetValid);
    }
    if (expMs - iatMs > this.deps.requestLifetimeMsMax) {
      throw new TapwireError(`lifetime ${expMs - iatMs} ms above ${this.deps.requestLifetimeMsMax} ms`, ErrorCode.MessageLifetimeTooLong);
    }
  }

  private accept(summary: RequestSummary, verdict: Verdict, walletId: string | undefined, nowMs: number): Outbound[] {
    const signed = this.deps.signer.sign(summary, verdict, nowMs);
    const stored: StoredDecision = {
      hubId: summary.hubId,
      requestId: summary.requestId,
      bodyHash: summary.requestHash,
      requestType: summary.requestType,
      status: verdict.status,
      code: verdict.code,
      walletId,
      decision: signed.bytes,
      expMs: signed.expMs,
      createdAtMs: nowMs,
    };
    this.deps.store.saveDecision(stored);
    return replayed(stored);
  }

  private executeHubRequest(hub: Hub, request: HubRequest, nowMs: number): Verdict {
    switch (request.type) {
      case "payment_request":
        return this.pay(hub, request, nowMs);
      case "refund":
        return this.refund(hub, request, nowMs);
      case "reversal":
        return this.reverse(hub, request, nowMs);
      case "batch_close":
        return this.closeBatch(hub, request, nowMs);
    }
  }

  private pay(hub: Hub, request: PaymentRequest, nowMs: number): Verdict {
    this.refuseVoided(hub.hubId, request.requestId);
    const verifier = this.deps.verifiers.get(request.payer.kind);
    if (!verifier) throw new TapwireError(`no verifier for payer kind ${request.payer.kind}`, ErrorCode.UnsupportedRequest);
    const wallet = verifier.verify(request, { registry: this.deps.registry, db: this.deps.db, hub, nowMs });
    return this.capture(
      { hub, requestId: request.requestId, wallet, amountMinor: request.amountMinor, currency: request.currency, mode: request.mode },
      nowMs,
    );
  }

  private refuseVoided(hubId: string, requestId: string): void {
    if (this.deps.store.isVoided(hubId, requestId)) {
      throw new TapwireError(`payment ${requestId} was reversed before it arrived`, ErrorCode.Cancelled, { hubId, requestId });
    }
  }

  private capture(c: Capture, nowMs: number): Verdict {
    const { registry, ledger, store } = this.deps;
    const merchant = registry.getMerchant(c.hub.merchantId);
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
    const transfer = ledger.postTransfer({
      debitAccountId: walletAccountId(c.wallet.walletId),
      creditAccountId: merchantAccountId(merchant.merchantId),
      amountMinor: c.amountMinor,
      currency: c.currency,
      kind: "payment",
      reference: `${c.hub.hubId}/${c.requestId}`,
    });
    const payment = store.insertPayment({
      hubId: c.hub.hubId,
      requestId: c.requestId,
      merchantId: merchant.merchantId,
      walletId: c.wallet.walletId,
      mode: c.mode,
      amountMinor: c.amountMinor,
      currency: c.currency,
      transferId: transfer.transferId,
      capturedAtMs: nowMs,
    });
    return approvedVerdict({ receipt: receiptOf(payment, c.amountMinor, transfer.postedAtMs) });
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
    const transfer = this.giveBack(payment, request.amountMinor, "refund", `${hub.hubId}/${request.requestId}`);
    this.deps.store.addRefund(payment, hub.hubId, request.requestId, request.amountMinor, transfer.transferId, nowMs);
    return approvedVerdict({ receipt: receiptOf(payment, request.amountMinor, transfer.postedAtMs) });
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
    const transfer = this.giveBack(payment, remainingMinor, "reversal", `${hub.hubId}/${request.requestId}`);
    store.markReversed(payment.paymentId, nowMs);
    return approvedVerdict({ receipt: receiptOf(payment, remainingMinor, transfer.postedAtMs) });
  }

  private giveBack(payment: PaymentRecord, amountMinor: number, kind: string, reference: string) {
    return this.deps.ledger.postTransfer({
      debitAccountId: merchantAccountId(payment.merchantId),
      creditAccountId: walletAccountId(payment.walletId),
      amountMinor,
      currency: payment.currency,
      kind,
      reference,
    });
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

/** Runs the business step; its typed refusals become a stored declined decision, anything else aborts the batch. */
function decide(execute: () => Verdict): Verdict {
  try {
    return execute();
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return declinedVerdict(error);
  }
}

function replayed(stored: StoredDecision): Outbound[] {
  const recipients: Recipient[] = [{ kind: "hub", id: stored.hubId }];
  if (stored.walletId !== undefined) recipients.push({ kind: "wallet", id: stored.walletId });
  return recipients.map((r) => ({ kind: r.kind, id: r.id, payload: stored.decision, expiresAtMs: stored.expMs }));
}

function receiptOf(payment: PaymentRecord, amountMinor: number, postedAtMs: number) {
  return {
    paymentId: `pay-${payment.paymentId}`,
    merchantId: payment.merchantId,
    amountMinor,
    currency: payment.currency,
    payerMasked: maskPayer(payment.walletId),
    postedAtMs,
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
