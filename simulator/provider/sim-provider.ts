import type { KeyObject } from "node:crypto";
import type { Clock, Timers } from "../../core/sources.ts";
import { openSealed, readEnvelope, sealMessage } from "../../protocol/envelope.ts";
import { isTapwireError } from "../../protocol/errors.ts";
import { bodyHash, protocolVersion } from "../../protocol/messages.ts";
import { serviceToProviderSchema, type ProviderAnswer } from "../../protocol/provider.ts";

/** How the simulated provider behaves: answer, never answer, answer after `lateMs`, or decline everything. */
export type ProviderBehaviour = "answer" | "silent" | "late" | "decline";

export interface SimulatedProviderOptions {
  providerId: string;
  /** The provider's own signing key (its certificate's key). */
  privateKey: KeyObject;
  /** The settlement service's key: only its signed questions are answered. */
  servicePublicKey: KeyObject;
  currency: string;
  /** Its wallets and their balances in minor units of `currency`. */
  balances: Readonly<Record<string, number>>;
  clock: Clock;
  timers: Timers;
  /** How the answer leaves (its `req` topic). */
  send: (answer: Buffer) => void;
  /** For `late`: how long after the deadline it answers. */
  lateMs?: number;
}

/** Answers remembered, so a question asked again gets its first answer; bounded like everything else. */
export const rememberedAnswersMax = 10_000;

/**
 * Another wallet operator, simulated: it holds wallets with balances in its home currency and answers the service's
 * signed authorization requests with signed approvals or declines. An authorization it approved is held once: the
 * same question again (a retry of the payment) gets the same answer, without taking the money twice.
 */
export class SimulatedProvider {
  behaviour: ProviderBehaviour = "answer";
  private readonly balances = new Map<string, number>();
  /** Its answers by authorization id, with what each approval holds until released. */
  private readonly answers = new Map<string, { bytes: Buffer; held: { walletId: string; amountMinor: number } | undefined }>();
  /** Give-backs credited, by their reference. */
  private readonly credited = new Set<string>();
  /** Messages from the service that did not verify or parse. */
  refused = 0;
  /** Approvals the service released (not posted). */
  released = 0;

  constructor(private readonly options: SimulatedProviderOptions) {
    for (const [walletId, balance] of Object.entries(options.balances)) this.balances.set(walletId, balance);
  }

  balanceOf(walletId: string): number | undefined {
    return this.balances.get(walletId);
  }

  /** A message on the provider's `res` topic: an authorization request or a release. */
  receive(payload: Uint8Array): void {
    let answer: Buffer;
    let expMs: number;
    try {
      const opened = openSealed(payload, this.options.servicePublicKey, serviceToProviderSchema);
      if (opened.body.type === "provider_release") {
        this.release(opened.body.authorizationId);
        return;
      }
      if (opened.body.type === "provider_refund") {
        this.credit(opened.body.authorizationId, opened.body.reference, opened.body.amountMinor);
        return;
      }
      expMs = opened.body.exp;
      answer = this.answers.get(opened.body.authorizationId)?.bytes ?? this.decide(opened.body, bodyHash(readEnvelope(payload).payload));
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      this.refused += 1;
      return;
    }
    switch (this.behaviour) {
      case "silent":
        return;
      case "late":
        this.options.timers.setTimeout(() => this.options.send(answer), Math.max(0, expMs - this.options.clock.nowMs()) + (this.options.lateMs ?? 1_000));
        return;
      default:
        this.options.send(answer);
    }
  }

  private decide(request: { authorizationId: string; walletId: string; amountMinor: number; currency: string }, requestHash: Uint8Array): Buffer {
    const balance = this.balances.get(request.walletId);
    const why =
      this.behaviour === "decline" ? "declined by the provider" :
      request.currency !== this.options.currency ? `wallets hold ${this.options.currency}` :
      balance === undefined ? `no wallet ${request.walletId}` :
      balance < request.amountMinor ? "insufficient funds" : undefined;
    const held = why === undefined ? { walletId: request.walletId, amountMinor: request.amountMinor } : undefined;
    if (held) this.balances.set(held.walletId, balance! - held.amountMinor);
    const body: ProviderAnswer = {
      type: "provider_answer",
      v: protocolVersion,
      authorizationId: request.authorizationId,
      providerId: this.options.providerId,
      requestHash: new Uint8Array(requestHash),
      status: why === undefined ? "approved" : "declined",
      reason: why ?? "approved",
      amountMinor: request.amountMinor,
      currency: request.currency,
      iat: this.options.clock.nowMs(),
    };
    const bytes = sealMessage(body, this.options.privateKey);
    if (this.answers.size >= rememberedAnswersMax) this.answers.delete(this.answers.keys().next().value!);
    this.answers.set(request.authorizationId, { bytes, held });
    return bytes;
  }

  /** Money the service gave back to a wallet (a refund, a reversal): credited once per reference. */
  private credit(authorizationId: string, reference: string, amountMinor: number): void {
    const walletId = this.answers.get(authorizationId)?.held?.walletId;
    if (walletId === undefined || this.credited.has(reference)) return;
    if (this.credited.size >= rememberedAnswersMax) this.credited.delete(this.credited.values().next().value!);
    this.credited.add(reference);
    this.balances.set(walletId, (this.balances.get(walletId) ?? 0) + amountMinor);
  }

  /** The service did not post an approval: the money held for it goes back to the wallet, once. */
  private release(authorizationId: string): void {
    const answer = this.answers.get(authorizationId);
    if (!answer?.held) return;
    this.balances.set(answer.held.walletId, (this.balances.get(answer.held.walletId) ?? 0) + answer.held.amountMinor);
    this.answers.set(authorizationId, { bytes: answer.bytes, held: undefined });
    this.released += 1;
  }
}
