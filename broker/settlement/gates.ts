import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { HubRequest } from "../../protocol/messages.ts";
import type { MandateStore } from "../agents/mandate-store.ts";
import type { Hub } from "../registry/principals.ts";
import type { Registry } from "../registry/registry.ts";
import type { Admission } from "./admission.ts";
import type { DecisionStore, StoredDecision } from "./decision-store.ts";
import { sameBytes } from "../../protocol/bytes.ts";

/** A request through every gate (with what the gates read on the way), or the stored answer to an identical earlier one. */
export type Gate<Passed> = { replay: StoredDecision } | { passed: Passed };

type HubAdmission = Extract<Admission, { outcome: "hub_request" }>;
type TagAdmission = Extract<Admission, { outcome: "wallet_tag" }>;
type AgentAdmission = Extract<Admission, { outcome: "agent_payment" }>;
type WalletAdmission = Extract<Admission, { outcome: "wallet_request" }>;

export interface GateDeps {
  registry: Registry;
  decisions: DecisionStore;
  mandates: MandateStore;
  clockSkewMs: number;
  requestLifetimeMsMax: number;
}

/**
 * The pipeline's third step, inside the batch transaction: revocation, time, idempotency, seq, nonce. A gate
 * refuses by throwing a TapwireError and stores nothing; a request through the gates has its seq, nonce or
 * closed mandate consumed, so it is executed exactly once.
 */
export class Gates {
  constructor(private readonly deps: GateDeps) {}

  hubRequest({ hubId, request, hash }: HubAdmission, nowMs: number): Gate<Hub> {
    const { registry, decisions } = this.deps;
    // A retry of a request already decided gets that decision back even once it has expired: answering
    // "declined, expired" for a payment that was captured would tell the hub the customer was not charged.
    const stored = decisions.findDecision(hubId, request.requestId);
    if (stored && sameBytes(stored.bodyHash, hash)) return { replay: stored };
    // The usual request passes every gate: its seq is consumed and its hub read in one statement.
    const hub = stored || this.timesError(request.iat, request.exp, nowMs) ? undefined : registry.advanceHubSeq(hubId, request.seq);
    if (hub) return { passed: hub };
    throw this.hubRequestRefusal(hubId, request, stored, nowMs);
  }

  walletTag({ hubId, walletId, message, offer, hash }: TagAdmission, nowMs: number): Gate<Hub> {
    const { registry, decisions } = this.deps;
    const stored = decisions.findDecision(hubId, offer.offerId);
    if (stored && sameBytes(stored.bodyHash, hash)) return { replay: stored };
    const hub = registry.getActiveHub(hubId);
    this.checkTimes(offer.iat, offer.exp, nowMs);
    if (message.iat > nowMs + this.deps.clockSkewMs) {
      throw new TapwireError(`wallet message iat ${message.iat} is ahead of ${nowMs}`, ErrorCode.MessageNotYetValid, { walletId });
    }
    if (decisions.isNonceConsumed(hubId, offer.nonce)) {
      throw new TapwireError(`offer nonce of ${offer.offerId} was already used`, ErrorCode.NonceReplayed, { hubId, offerId: offer.offerId });
    }
    if (stored) {
      throw new TapwireError(`request id ${offer.offerId} was used for a different request`, ErrorCode.RequestIdReused, {
        hubId,
        requestId: offer.offerId,
      });
    }
    decisions.consumeNonce(hubId, offer.nonce, offer.offerId, walletId, nowMs);
    return { passed: hub };
  }

  /**
   * Copies are told apart by the bytes: the exact bytes seen before are a replayed closed mandate
   * (MandateReplayed); the same body signed again by the agent is a retry and gets the first decision.
   * Either way nothing is posted twice.
   */
  agentPayment(a: AgentAdmission, key: string, nowMs: number): Gate<undefined> {
    const { registry, mandates, decisions } = this.deps;
    registry.getActiveAgent(a.agentId);
    this.checkTimes(a.payment.iat, a.payment.exp, nowMs);
    if (mandates.isClosedConsumed(a.closedHash)) {
      throw new TapwireError(`closed mandate ${a.payment.requestId} was already consumed`, ErrorCode.MandateReplayed, { requestId: a.payment.requestId });
    }
    const stored = decisions.findDecision(key, a.payment.requestId);
    if (stored && !sameBytes(stored.bodyHash, a.hash)) {
      throw new TapwireError(`request id ${a.payment.requestId} was used for a different payment`, ErrorCode.RequestIdReused, { requestId: a.payment.requestId });
    }
    mandates.consumeClosed(a.closedHash, a.agentId, a.payment.requestId, a.payment.mandateId, nowMs);
    return stored ? { replay: stored } : { passed: undefined };
  }

  walletRequest(a: WalletAdmission, key: string, nowMs: number): Gate<undefined> {
    const message = a.message;
    if (message.type === "open_mandate") {
      if (message.iat > nowMs + this.deps.clockSkewMs) {
        throw new TapwireError(`mandate iat ${message.iat} is ahead of ${nowMs}`, ErrorCode.MessageNotYetValid);
      }
    } else {
      this.checkTimes(message.iat, message.exp, nowMs);
    }
    const stored = this.deps.decisions.findDecision(key, a.summary.requestId);
    if (stored && !sameBytes(stored.bodyHash, a.hash)) {
      throw new TapwireError(`request id ${a.summary.requestId} was used for a different request`, ErrorCode.RequestIdReused, { requestId: a.summary.requestId });
    }
    return stored ? { replay: stored } : { passed: undefined };
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
    return this.deps.registry.seqRefusal(hub.hubId, request.seq);
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
}

