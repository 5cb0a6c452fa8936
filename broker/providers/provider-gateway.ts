import { createPublicKey, type KeyObject } from "node:crypto";
import { assert } from "../../core/assert.ts";
import { logger } from "../../core/log.ts";
import type { Clock, Timers } from "../../core/sources.ts";
import { readEnvelope, openMessage, sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError, asTapwireError, isTapwireError } from "../../protocol/errors.ts";
import type { FxQuote } from "../../protocol/fx.ts";
import { keyId } from "../../protocol/keys.ts";
import { bodyHash, protocolVersion } from "../../protocol/messages.ts";
import { providerAnswerSchema, type ProviderAnswer, type ProviderAuthorization, type ProviderRefund, type ProviderRelease } from "../../protocol/provider.ts";
import { sameBytes } from "../../protocol/bytes.ts";
import { encodeBody } from "../../protocol/cbor.ts";
import type { ProviderNotice } from "./provider-registry.ts";

const log = logger("tapwire:providers");

/** How authorization requests leave the service: MQTT in a running node, a direct call in tests. */
export interface ProviderTransport {
  /** Sends to the provider's `res` topic; throws (any error) when it cannot be sent. */
  send(providerId: string, payload: Buffer, expiresAtMs: number): void;
}

/** What the service asks a provider, before it is signed. */
export type AuthorizationInput = Omit<ProviderAuthorization, "type" | "v" | "iat" | "exp">;

/** A provider's approval, as the batch posts it: the signed answer as it came and what it approved. */
export interface ProviderApproval {
  ok: true;
  authorizationId: string;
  providerId: string;
  amountMinor: number;
  currency: string;
  quote: FxQuote | undefined;
  answer: ProviderAnswer;
  answerBytes: Uint8Array;
}

/** The round trip's outcome, settled before the batch: an approval, or the typed decline to give instead. */
export type ProviderOutcome = ProviderApproval | { ok: false; error: TapwireError };

export interface ProviderGatewayOptions {
  transport: ProviderTransport | undefined;
  serviceKey: KeyObject;
  clock: Clock;
  timers: Timers;
  /** The provider's enrolled key; undefined for a provider not enrolled (or revoked). */
  providerKey: (providerId: string) => KeyObject | undefined;
  answerMsMax: number;
  /** Authorizations waiting for an answer at once; past it a payment is declined ProviderUnavailable. */
  pendingMax: number;
}

interface Waiting {
  providerId: string;
  requestHash: Uint8Array;
  request: AuthorizationInput;
  outcome: Promise<ProviderOutcome>;
  settle: (outcome: ProviderOutcome) => void;
  timer: unknown;
}

/**
 * Asks wallet providers and waits for their signed answers, each wait bounded by answerMsMax (injected timers):
 * a provider that is silent, late or unreachable gives a typed decline, never a hanging payment. An answer is
 * used only when it is signed by that provider's enrolled key, parses, answers the very question that is waiting
 * (authorization id, provider, request hash) and approves exactly the amount asked; anything else is refused, and
 * the wait goes on for the real answer until the deadline. A second ask about a payment already waiting shares
 * the first wait.
 */
export class ProviderGateway {
  private readonly waiting = new Map<string, Waiting>();
  private readonly kid: Uint8Array;

  constructor(private readonly options: ProviderGatewayOptions) {
    assert(Number.isSafeInteger(options.answerMsMax) && options.answerMsMax > 0, "answerMsMax must be a positive integer");
    assert(Number.isSafeInteger(options.pendingMax) && options.pendingMax > 0, "pendingMax must be a positive integer");
    this.kid = keyId(createPublicKey(options.serviceKey));
  }

  get waitingCount(): number {
    return this.waiting.size;
  }

  authorize(input: AuthorizationInput): Promise<ProviderOutcome> {
    const already = this.waiting.get(input.authorizationId);
    if (already) return already.outcome;
    const { transport, clock, timers, answerMsMax, pendingMax } = this.options;
    const unavailable = (why: string) => Promise.resolve<ProviderOutcome>({ ok: false, error: new TapwireError(why, ErrorCode.ProviderUnavailable, { providerId: input.providerId }) });
    if (transport === undefined) return unavailable("no provider link is configured");
    if (this.options.providerKey(input.providerId) === undefined) return unavailable(`provider ${input.providerId} is not enrolled or revoked`);
    if (this.waiting.size >= pendingMax) return unavailable(`${pendingMax} provider authorizations already waiting`);
    const iat = clock.nowMs();
    const body: ProviderAuthorization = { type: "provider_authorization", v: protocolVersion, ...input, iat, exp: iat + answerMsMax };
    const payload = sealMessage(body, this.options.serviceKey, this.kid);
    let settle!: (outcome: ProviderOutcome) => void;
    const outcome = new Promise<ProviderOutcome>((resolve) => {
      settle = resolve;
    });
    const waiting: Waiting = { providerId: input.providerId, requestHash: bodyHash(encodeBody(body)), request: input, outcome, settle, timer: undefined };
    this.waiting.set(input.authorizationId, waiting);
    waiting.timer = timers.setTimeout(() => {
      this.finish(input.authorizationId, { ok: false, error: new TapwireError(`provider ${input.providerId} did not answer within ${answerMsMax} ms`, ErrorCode.ProviderTimeout, { providerId: input.providerId }) });
    }, answerMsMax);
    try {
      transport.send(input.providerId, payload, body.exp);
    } catch (error) {
      this.finish(input.authorizationId, { ok: false, error: new TapwireError(`cannot reach provider ${input.providerId}: ${asTapwireError(error, ErrorCode.ProviderUnavailable).message}`, ErrorCode.ProviderUnavailable) });
    }
    return outcome;
  }

  /**
   * A message on `providers/<providerId>/req`. Returns undefined when it settled a waiting authorization, or the
   * typed refusal (also logged): ProviderAnswerInvalid for a bad signature, body or amount, ProviderAnswerReplayed
   * for an answer to nothing waiting (answered already, timed out, another provider's, an old question).
   */
  receive(providerId: string, payload: Uint8Array): TapwireError | undefined {
    try {
      this.accept(providerId, payload);
      return undefined;
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      log.warn({ providerId, code: error.code, err: error.message }, "provider answer refused");
      return error;
    }
  }

  /** Tells the provider its approval was not posted, so it lets go of the money it held (protocol/provider.ts). */
  release(approval: ProviderApproval, reason: string): void {
    const body: ProviderRelease = {
      type: "provider_release",
      v: protocolVersion,
      authorizationId: approval.authorizationId,
      providerId: approval.providerId,
      reason: reason.slice(0, 200),
      iat: this.options.clock.nowMs(),
    };
    try {
      this.options.transport?.send(approval.providerId, sealMessage(body, this.options.serviceKey, this.kid), body.iat + this.options.answerMsMax);
      log.info({ providerId: approval.providerId, authorizationId: approval.authorizationId, reason }, "provider approval released");
    } catch (error) {
      log.error({ err: error, providerId: approval.providerId, authorizationId: approval.authorizationId }, "provider release not sent; the provider's hold stays until it expires there");
    }
  }

  /** Sends a give-back notice; false when it could not be sent now (kept, and sent after a later batch). */
  notify(notice: ProviderNotice): boolean {
    const { transport, clock, serviceKey, answerMsMax } = this.options;
    if (transport === undefined) return false;
    const body: ProviderRefund = {
      type: "provider_refund",
      v: protocolVersion,
      authorizationId: notice.authorizationId,
      providerId: notice.providerId,
      reference: notice.reference,
      amountMinor: notice.amountMinor,
      currency: notice.currency,
      iat: clock.nowMs(),
    };
    try {
      transport.send(notice.providerId, sealMessage(body, serviceKey, this.kid), body.iat + answerMsMax);
      return true;
    } catch (error) {
      log.warn({ err: error, providerId: notice.providerId, reference: notice.reference }, "refund notice not sent; kept for the next batch");
      return false;
    }
  }

  /** Declines every wait at once (the service stopping): no payment waits for a provider past its run. */
  close(): void {
    for (const id of [...this.waiting.keys()]) {
      this.finish(id, { ok: false, error: new TapwireError("settlement service stopping", ErrorCode.ProviderUnavailable) });
    }
  }

  private accept(providerId: string, payload: Uint8Array): void {
    const key = this.options.providerKey(providerId);
    if (key === undefined) throw new TapwireError(`answer from provider ${providerId}, not enrolled or revoked`, ErrorCode.ProviderAnswerInvalid);
    let answer: ProviderAnswer;
    let bytes: Uint8Array;
    try {
      bytes = Uint8Array.from(payload);
      answer = openMessage(readEnvelope(bytes), key, providerAnswerSchema).body;
    } catch (error) {
      throw new TapwireError(`provider answer does not open: ${asTapwireError(error, ErrorCode.MalformedCose).message}`, ErrorCode.ProviderAnswerInvalid, { providerId });
    }
    const waiting = this.waiting.get(answer.authorizationId);
    if (!waiting || waiting.providerId !== providerId || answer.providerId !== providerId || !sameBytes(answer.requestHash, waiting.requestHash)) {
      throw new TapwireError(`no authorization ${answer.authorizationId} waits for this answer`, ErrorCode.ProviderAnswerReplayed, { providerId, authorizationId: answer.authorizationId });
    }
    const { request } = waiting;
    if (answer.amountMinor !== request.amountMinor || answer.currency !== request.currency) {
      throw new TapwireError(`provider answered ${answer.amountMinor} ${answer.currency}, asked ${request.amountMinor} ${request.currency}`, ErrorCode.ProviderAnswerInvalid, { providerId });
    }
    if (answer.status === "declined") {
      this.finish(answer.authorizationId, { ok: false, error: new TapwireError(`provider ${providerId} declined: ${answer.reason}`, ErrorCode.ProviderDeclined, { providerId }) });
      return;
    }
    this.finish(answer.authorizationId, {
      ok: true,
      authorizationId: answer.authorizationId,
      providerId,
      amountMinor: answer.amountMinor,
      currency: answer.currency,
      quote: request.fx,
      answer,
      answerBytes: bytes,
    });
  }

  private finish(authorizationId: string, outcome: ProviderOutcome): void {
    const waiting = this.waiting.get(authorizationId);
    if (!waiting) return;
    this.waiting.delete(authorizationId);
    this.options.timers.clearTimeout(waiting.timer);
    waiting.settle(outcome);
  }
}
