import { createPublicKey, type KeyObject } from "node:crypto";
import type { EnrolmentBundle } from "../broker/enrolment.ts";
import type { HubLink } from "../firmware-bridge/mqtt/hub-link.ts";
import { sealMessage } from "../protocol/envelope.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { importPrivatePem } from "../protocol/keys.ts";
import { agentKeyDer, sealOpenMandate, type OpenMandate } from "../protocol/mandates.ts";
import { mandateFor, readMandateRequest, type MandateGrant, type MandateRequest, type MandateTerms } from "../protocol/mandate-request.ts";
import type { DecisionReply } from "../firmware-bridge/mqtt/hub-link.ts";
import type { Decision } from "../protocol/messages.ts";
import type { StepUpAnswer, WalletStepUpApproval } from "../protocol/review.ts";
import { systemClock, systemRandom, type Clock, type Random } from "../core/sources.ts";
import { clientLink } from "./client-link.ts";

export type { MandateTerms } from "../protocol/mandate-request.ts";

/**
 * The person's trusted surface (their phone's wallet app): signs open mandates for an agent and answers
 * step-up challenges, each with the wallet's own key, over the wallet's own link.
 */
export class PersonWallet {
  private readonly key: KeyObject;
  private readonly link: HubLink;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly decisionTimeoutMs: number;

  constructor(
    private readonly bundle: EnrolmentBundle,
    url: string,
    options: { clock?: Clock; random?: Random; decisionTimeoutMs?: number } = {},
  ) {
    if (!bundle.keyPem) throw new TapwireError("the wallet needs its private key", ErrorCode.ConfigInvalid);
    this.key = importPrivatePem(bundle.keyPem);
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
    this.link = clientLink(bundle, url);
    this.decisionTimeoutMs = options.decisionTimeoutMs ?? 5_000;
  }

  get walletId(): string {
    return this.bundle.principal.id;
  }

  /** Connects the wallet's own mTLS link; resolves once connected. */
  async start(): Promise<void> {
    this.link.start();
    await this.link.waitConnected(this.decisionTimeoutMs);
  }

  /** Closes the link. */
  stop(): Promise<void> {
    return this.link.stop();
  }

  /** Signs an open mandate for `agentId`'s key with the wallet's key and registers it; resolves with the service's decision. */
  async grant(agentId: string, agentKey: KeyObject, terms: MandateTerms): Promise<Decision> {
    const mandate: OpenMandate = {
      type: "open_mandate",
      v: 1,
      walletId: this.walletId,
      agentId,
      agentKey: agentKeyDer(agentKey),
      iat: this.clock.nowMs(),
      ...terms,
    };
    return (await this.register(mandate)).reply.decision;
  }

  /**
   * Reads an agent's signing request (the text of its QR code or link) for the person to see: its purpose, the
   * agent, the terms. Forged (BadSignature), expired (MessageExpired), malformed (SchemaInvalid) or impossible terms
   * (MandateInvalid) are refused here, before the person is asked anything.
   */
  review(text: string): MandateRequest {
    return readMandateRequest(text, this.clock.nowMs());
  }

  /**
   * The person agreed: signs the open mandate for the request's agent and key, with the terms the person chose (by
   * default as asked), and registers it. Resolves with the service's decision and the grant to hand the agent.
   */
  async approve(request: MandateRequest, terms: MandateTerms = request.terms): Promise<{ decision: Decision; grant: MandateGrant }> {
    const { bytes, reply } = await this.register(mandateFor(request, this.walletId, terms, this.clock.nowMs()));
    return { decision: reply.decision, grant: { mandate: bytes, decision: reply.bytes } };
  }

  private async register(mandate: OpenMandate): Promise<{ bytes: Buffer; reply: DecisionReply }> {
    const bytes = sealOpenMandate(mandate, this.key, createPublicKey(this.key));
    return { bytes, reply: await this.link.request(bytes, mandate.mandateId, this.decisionTimeoutMs) };
  }

  /** Signs the answer to a held payment (`caseId` from the held decision); the agent then hears the outcome. */
  async answerStepUp(caseId: string, answer: StepUpAnswer): Promise<Decision> {
    const iat = this.clock.nowMs();
    const body: WalletStepUpApproval = {
      type: "step_up_approval",
      v: 1,
      walletId: this.walletId,
      requestId: `${this.walletId}-${this.random.uuid()}`,
      caseId,
      answer,
      iat,
      exp: iat + 60_000,
    };
    return (await this.link.request(sealMessage(body, this.key), body.requestId, this.decisionTimeoutMs)).decision;
  }
}
