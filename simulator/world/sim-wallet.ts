import { decodeBody } from "../../protocol/cbor.ts";
import { readEnvelope, sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import { generateP256, type KeyPair } from "../../protocol/keys.ts";
import { issuePaymentCode } from "../../protocol/payment-code.ts";
import { parseBody, protocolVersion, tagOfferSchema, walletTagPaymentSchema, type Decision, type WalletTagPayment } from "../../protocol/messages.ts";
import type { StepUpAnswer, WalletStepUpApproval } from "../../protocol/review.ts";
import type { Clock, Random, Timers } from "../../core/sources.ts";
import { HceWallet } from "../phones/hce-wallet.ts";
import { TagReadingWallet } from "../phones/tag-reading-wallet.ts";
import type { TagLink, VirtualReader } from "../pn532/field.ts";
import type { OpenMandate } from "../../protocol/mandates.ts";
import { grantMandate } from "./sim-agent.ts";
import { SimClient, type SimClientDeps } from "./sim-client.ts";
import type { Trace } from "./trace.ts";

/** A phone gives up on a silent tag after this long, per APDU (virtual time). */
export const phoneApduTimeoutMs = 500;
/** How long the wallet app waits for the service's answer to a tag payment. */
export const walletDecisionTimeoutMs = 10_000;
/**
 * The simulator's TargetSession times a phone's APDU out on a real timer. Here the virtual one decides, so the real
 * one is given the longest wait Node allows; it is cleared as soon as the APDU is answered or the phone leaves.
 */
const realBackstopMs = 2_147_483_647;

export interface SimWalletDeps extends Omit<SimClientDeps, "principal"> {
  walletId: string;
  keys: KeyPair;
  clock: Clock;
  random: Random;
  trace: Trace;
}

/**
 * One customer's wallet: its HCE phone (the same one on every hub, so its ATC only grows) and its phone in reader
 * mode, which reads a hub's tag and pays the offer online over the wallet's own link, as WalletClient does.
 */
export class SimWallet {
  readonly hce: HceWallet;
  readonly tagPhone: VirtualReader;
  private readonly client: SimClient;
  private lastIatMs = 0;
  /** The payment code the phone showed last (scanning it again is a replay). */
  private shownCode: string | undefined;

  constructor(private readonly deps: SimWalletDeps) {
    this.hce = new HceWallet({ walletId: deps.walletId, privateKey: deps.keys.privateKey, atcStart: 1 });
    this.client = new SimClient({ ...deps, principal: { kind: "wallet", id: deps.walletId } });
    const reading = new TagReadingWallet({ apduTimeoutMs: phoneApduTimeoutMs, onOffer: (offer) => this.payOffer(offer) });
    this.tagPhone = { role: "reader", read: (tag) => reading.read(virtualTimeouts(tag, deps.timers)) };
  }

  get walletId(): string {
    return this.deps.walletId;
  }

  /**
   * The payment code the phone shows: a fresh one, the one shown last again (a screenshot, a replay), or one signed
   * by a key that is not the wallet's (forged).
   */
  paymentCode(which: "fresh" | "again" | "forged"): string {
    if (which === "again" && this.shownCode !== undefined) return this.shownCode;
    const privateKey = which === "forged" ? generateP256().privateKey : this.deps.keys.privateKey;
    const { text } = issuePaymentCode({ walletId: this.deps.walletId, privateKey, nowMs: this.deps.clock.nowMs(), random: this.deps.random });
    if (which !== "forged") this.shownCode = text;
    return text;
  }

  /** The person signs an open mandate for an agent in the wallet app; it goes over the wallet's link. */
  async grant(mandate: OpenMandate): Promise<void> {
    await grantMandate(this.client, mandate, this.deps.keys, this.deps.trace);
  }

  close(): void {
    this.client.close();
  }

  /** The person answers a step-up on their phone: a signed step_up_approval over the wallet's link; resolves with its answer. */
  async answerStepUp(caseId: string, answer: StepUpAnswer): Promise<Decision | undefined> {
    const iat = this.nextIat();
    const requestId = `${this.deps.walletId}-step-up-${caseId}`;
    const body: WalletStepUpApproval = { type: "step_up_approval", v: protocolVersion, walletId: this.deps.walletId, requestId, caseId, answer, iat, exp: iat + 60_000 };
    try {
      const decision = await this.client.request(sealMessage(body, this.deps.keys.privateKey), requestId, walletDecisionTimeoutMs);
      this.deps.trace.record(`wallet ${this.deps.walletId}`, `step-up ${caseId} ${answer}: ${decision.status} ${decision.code}`);
      return decision;
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      this.deps.trace.record(`wallet ${this.deps.walletId}`, `step-up ${caseId} unanswered E${error.code}`);
      return undefined;
    }
  }

  /** The wallet's clock for what it signs, strictly increasing: no two of its messages carry the same iat. */
  private nextIat(): number {
    this.lastIatMs = Math.max(this.deps.clock.nowMs(), this.lastIatMs + 1);
    return this.lastIatMs;
  }

  /** Signs a WalletTagPayment around the offer as read and sends it; the answer goes to the trace, failures too. */
  private async payOffer(offerBytes: Uint8Array): Promise<void> {
    const { walletId, trace } = this.deps;
    const offer = parseBody(tagOfferSchema, decodeBody(readEnvelope(offerBytes).payload));
    const body: WalletTagPayment = { type: "wallet_tag_payment", v: protocolVersion, walletId, offer: new Uint8Array(offerBytes), iat: this.nextIat() };
    const sealed = sealMessage(parseBody(walletTagPaymentSchema, body), this.deps.keys.privateKey);
    try {
      const decision = await this.client.request(sealed, offer.offerId, walletDecisionTimeoutMs);
      trace.record(`wallet ${walletId}`, `offer ${offer.offerId} ${decision.status} ${decision.code}`);
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      trace.record(`wallet ${walletId}`, `offer ${offer.offerId} unanswered E${error.code}`);
    }
  }
}

/** The tag link with each APDU's timeout on virtual time (see realBackstopMs). */
function virtualTimeouts(tag: TagLink, timers: Timers): TagLink {
  return {
    transceive: (apdu, timeoutMs) =>
      new Promise((resolve, reject) => {
        const timer = timers.setTimeout(() => reject(new TapwireError(`the tag did not answer within ${timeoutMs} ms`, ErrorCode.NfcTimeout)), timeoutMs);
        tag.transceive(apdu, realBackstopMs).then(
          (answer) => {
            timers.clearTimeout(timer);
            resolve(answer);
          },
          (error: unknown) => {
            timers.clearTimeout(timer);
            reject(error instanceof Error ? error : new Error(String(error)));
          },
        );
      }),
  };
}
