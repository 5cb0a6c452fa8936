import { createActor, waitFor, type SnapshotFrom } from "xstate";
import { decodeBody, encodeBody } from "../../protocol/cbor.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { Decision, DecisionStatus } from "../../protocol/messages.ts";
import { SeededRandom, VirtualClock } from "../../core/sources.ts";
import { glassesHubConfig, type GlassesHubOptions } from "../../device/glasses/config.ts";
import { createGlassesHubMachine, type GlassesHubMachine } from "../../device/glasses/glasses-hub-machine.ts";
import type { PurchaseOutcome } from "../../device/glasses/outcome.ts";
import type {
  BiometricIdentity,
  BiometricRequestOptions,
  BiometricVerifier,
  GlassesCard,
  GlassesEvent,
  GlassesHubDeps,
  GlassesPort,
  Pairing,
  ProductSeen,
} from "../../device/glasses/ports.ts";
import type { Lang } from "../../device/intent/intent.ts";
import { TableIntentParser } from "../../device/intent/table-intent-parser.ts";
import { HubJournal } from "../../device/journal/hub-journal.ts";
import { ClockWatch } from "../../device/link/clock-watch.ts";
import { Outbox } from "../../device/link/outbox.ts";
import { defaultResendConfig } from "../../device/link/outbox-config.ts";
import { RequestSealer } from "../../device/link/sealer.ts";
import { FakeSettlement, signer } from "../device/fakes.ts";

export const pairing: Pairing = { ownerId: "owner-1", glassesId: "glasses-1", walletId: "wallet-1", lang: "en" };

export const nikeAir: ProductSeen = {
  productId: "sku-nike-air",
  productName: "Nike Air",
  merchantId: "merchant-1",
  amountMinor: 8900,
  currency: "EUR",
};

/** What the fake glasses sign: enough for the fake verifier to make each real check. */
export interface FakeAssertion {
  ownerId: string;
  glassesId: string;
  challenge: Uint8Array;
  userVerified: boolean;
  liveness: boolean;
}

export type BiometricBehaviour = "answer" | "silent" | "refuse" | Partial<Omit<FakeAssertion, "challenge">>;

export class FakeGlasses implements GlassesPort {
  readonly cards: GlassesCard[] = [];
  readonly said: { text: string; lang: Lang }[] = [];
  readonly challenges: Uint8Array[] = [];
  readonly aborted: boolean[] = [];
  /** One behaviour per biometric request, in order; "answer" once they run out. */
  biometric: BiometricBehaviour[] = [];
  private listener: ((event: GlassesEvent) => void) | undefined;

  async show(card: GlassesCard): Promise<void> {
    this.cards.push(card);
  }

  async say(text: string, lang: Lang): Promise<void> {
    this.said.push({ text, lang });
  }

  requestBiometric(challenge: Uint8Array, options: BiometricRequestOptions): Promise<Uint8Array> {
    this.challenges.push(challenge);
    const index = this.challenges.length - 1;
    this.aborted[index] = false;
    options.signal.addEventListener("abort", () => (this.aborted[index] = true));
    const behaviour = this.biometric[index] ?? "answer";
    if (behaviour === "silent") return new Promise(() => {});
    if (behaviour === "refuse") return Promise.reject(new TapwireError("wearer declined", ErrorCode.BiometricFailed));
    const overrides = behaviour === "answer" ? {} : behaviour;
    const assertion: FakeAssertion = {
      ownerId: pairing.ownerId,
      glassesId: pairing.glassesId,
      userVerified: true,
      liveness: true,
      ...overrides,
      challenge,
    };
    return Promise.resolve(new Uint8Array(encodeBody(assertion)));
  }

  subscribe(listener: (event: GlassesEvent) => void): () => void {
    this.listener = listener;
    return () => (this.listener = undefined);
  }

  get subscribed(): boolean {
    return this.listener !== undefined;
  }

  see(product: ProductSeen): void {
    this.listener?.({ type: "product_seen", product });
  }

  hear(text: string, lang: Lang, asrConfidence = 0.95): void {
    this.listener?.({ type: "utterance", utterance: { text, lang, asrConfidence } });
  }

  lastSaid(): { text: string; lang: Lang } | undefined {
    return this.said.at(-1);
  }
}

/** Checks what a real verifier checks (challenge, user verified, liveness), on the fake's CBOR assertion. */
export class FakeVerifier implements BiometricVerifier {
  verify(assertion: Uint8Array, challenge: Uint8Array): BiometricIdentity {
    const claims = decodeBody(assertion) as FakeAssertion;
    if (Buffer.compare(Buffer.from(claims.challenge), Buffer.from(challenge)) !== 0) {
      throw new TapwireError("assertion answers another challenge", ErrorCode.BiometricFailed);
    }
    if (!claims.userVerified || !claims.liveness) {
      throw new TapwireError("user not verified or not live", ErrorCode.BiometricFailed);
    }
    return { ownerId: claims.ownerId, glassesId: claims.glassesId };
  }
}

export interface SentRequest {
  requestId: string;
  body: Record<string, unknown>;
}

/** What the fake service answers a new request with; "silent" never answers (nor its resends). */
export type Reply = { status: DecisionStatus; code?: number; caseId?: string } | "silent";

/**
 * The settlement port of the glasses hub's outbox, answering like a service that stores its decisions: each new
 * request takes the next reply of `answers` (approved once they run out), and every resend of it gets that reply
 * again. Answers are signed by the test service key and arrive a tick after the publish, as over a real link.
 */
export class AutoSettlement extends FakeSettlement {
  answers: Reply[] = [];
  private readonly replies = new Map<string, Reply>();

  override publish(payload: Buffer): Promise<void> {
    const published = super.publish(payload);
    if (!this.online) return published;
    const request = this.published.at(-1)!;
    const requestId = String(request.body["requestId"]);
    const reply = this.replies.get(requestId) ?? this.answers[this.replies.size] ?? { status: "approved" };
    this.replies.set(requestId, reply);
    if (reply !== "silent") {
      const caseId = reply.caseId === undefined ? {} : { caseId: reply.caseId };
      void Promise.resolve().then(() => this.answer(request, reply.status, reply.code ?? 0, caseId));
    }
    return published;
  }

  /** Each request once, in the order it was first sent. */
  get sent(): SentRequest[] {
    const first = new Map<string, SentRequest>();
    for (const { body } of this.published) {
      const requestId = String(body["requestId"]);
      if (!first.has(requestId)) first.set(requestId, { requestId, body });
    }
    return [...first.values()];
  }

  sentOfType(type: string): SentRequest[] {
    return this.sent.filter((request) => request.body["type"] === type);
  }
}

export function decisionFor(hubId: string, requestId: string, status: DecisionStatus, code = 0, caseId?: string): Decision {
  return {
    type: "decision",
    v: 1,
    requestId,
    requestType: "payment_request",
    requestHash: new Uint8Array(32),
    principalKind: "hub",
    hubId,
    status,
    code,
    reason: status,
    iat: 0,
    exp: 60_000,
    ...(caseId === undefined ? {} : { caseId }),
  };
}

export const timing = {
  offerTimeoutMs: 60_000,
  intentTimeoutMs: 10_000,
  biometricTimeoutMs: 15_000,
  decisionTimeoutMs: 5_000,
  reviewTimeoutMs: 30_000,
  resultDisplayMs: 3_000,
};

export type HubSnapshot = SnapshotFrom<GlassesHubMachine>;

export const hubId = "hub-glasses-1";
export const merchantId = nikeAir.merchantId;
export const requestTtlMs = 60_000;

/** The sending half every glasses hub runs on, as GlassesHubRuntime builds it: journal, sealer, started outbox. */
export function glassesLink(clock: VirtualClock, settlement: AutoSettlement, journal = HubJournal.open({ path: ":memory:", clock })) {
  const random = new SeededRandom(7);
  const sealer = new RequestSealer({ journal, signer, clock, random, identity: { hubId, merchantId } });
  const outbox = new Outbox({
    hubId,
    journal,
    sealer,
    settlement,
    clock,
    timers: clock,
    random,
    clockWatch: new ClockWatch(clock),
    config: { ...defaultResendConfig, reversalTtlMs: requestTtlMs, requestTtlMs },
  });
  outbox.start();
  return { journal, sealer, outbox, random };
}

/** A started purchase machine over fakes, the real journal and outbox, and one virtual clock for every delay. */
export function startHub(options: Partial<GlassesHubOptions> = {}) {
  const clock = new VirtualClock();
  const glasses = new FakeGlasses();
  const settlement = new AutoSettlement(clock);
  const { journal, sealer, outbox, random } = glassesLink(clock, settlement);
  const deps: GlassesHubDeps = { glasses, verifier: new FakeVerifier(), parser: new TableIntentParser(), sealer, outbox, random };
  const config = glassesHubConfig({ hubId, pairing, timing, requestTtlMs, ...options });
  const actor = createActor(createGlassesHubMachine(deps), { input: { config }, clock });
  const outcomes: PurchaseOutcome[] = [];
  actor.on("outcome", (event) => outcomes.push(event.outcome));
  actor.start();

  const until = (predicate: (snapshot: HubSnapshot) => boolean) => waitFor(actor, predicate, { timeout: 2_000 });
  const listening = () => until((s) => s.matches({ purchase: { offer: "listening" } }));
  const concluded = async () => {
    await until(() => outcomes.length > 0);
    return outcomes[0]!;
  };
  return { hubId, actor, clock, glasses, settlement, journal, outbox, deps, config, outcomes, until, listening, concluded };
}

/** Shows the product and answers the offer with `text`, as the wearer would. */
export async function offerAndSay(hub: ReturnType<typeof startHub>, text: string, lang: Lang, asrConfidence?: number) {
  hub.glasses.see(nikeAir);
  await hub.listening();
  hub.glasses.hear(text, lang, asrConfidence);
}
