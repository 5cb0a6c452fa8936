import { createPublicKey, type KeyObject } from "node:crypto";
import type { EnrolmentBundle } from "../broker/enrolment.ts";
import type { HubLink } from "../firmware-bridge/mqtt/hub-link.ts";
import { sealMessage } from "../protocol/envelope.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { importPrivatePem } from "../protocol/keys.ts";
import { agentKeyDer, sealOpenMandate, type OpenMandate } from "../protocol/mandates.ts";
import type { Decision } from "../protocol/messages.ts";
import type { StepUpAnswer, WalletStepUpApproval } from "../protocol/review.ts";
import { systemClock, systemRandom, type Clock, type Random } from "../core/sources.ts";
import { clientLink } from "./client-link.ts";

/** The limits the person sets in an open mandate. */
export type MandateTerms = Omit<OpenMandate, "type" | "v" | "walletId" | "agentId" | "agentKey" | "iat">;

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
    const bytes = sealOpenMandate(mandate, this.key, createPublicKey(this.key));
    return (await this.link.request(bytes, terms.mandateId, this.decisionTimeoutMs)).decision;
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
