import { createActor, SimulatedClock, waitFor, type SnapshotFrom } from "xstate";
import { decodeBody, encodeBody } from "../../protocol/cbor.ts";
import { decodeSign1 } from "../../protocol/cose.ts";
import { sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import type { Decision, DecisionStatus } from "../../protocol/messages.ts";
import { ManualClock, SeededRandom } from "../../protocol/sources.ts";
import { glassesHubConfig, type GlassesHubOptions } from "../../device/glasses/config.ts";
import { createGlassesHubMachine, type GlassesHubMachine } from "../../device/glasses/glasses-hub-machine.ts";
import type { PurchaseOutcome } from "../../device/glasses/outcome.ts";
import type {
  BiometricIdentity,
  BiometricRequestOptions,
  BiometricVerifier,
  GlassesCard,
  GlassesEvent,
  GlassesPort,
  Pairing,
  ProductSeen,
  SettlementPort,
} from "../../device/glasses/ports.ts";
import type { Lang } from "../../device/intent/intent.ts";
import { TableIntentParser } from "../../device/intent/table-intent-parser.ts";

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
  timeoutMs: number;
  body: Record<string, unknown>;
}

type Answer = { status: DecisionStatus; code?: number; caseId?: string } | "silent";

export class FakeSettlement implements SettlementPort {
  readonly sent: SentRequest[] = [];
  /** One answer per request, in order; approve once they run out. */
  answers: Answer[] = [];

  constructor(private readonly hubId: string) {}

  send(payload: Buffer, requestId: string, timeoutMs: number): Promise<Decision> {
    const body = decodeBody(decodeSign1(payload).payload) as Record<string, unknown>;
    this.sent.push({ requestId, timeoutMs, body });
    const answer = this.answers[this.sent.length - 1] ?? { status: "approved" };
    if (answer === "silent") return new Promise(() => {});
    return Promise.resolve(decisionFor(this.hubId, requestId, answer.status, answer.code ?? 0, answer.caseId));
  }

  ofType(type: string): SentRequest[] {
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

/** A started hub over fakes, with a simulated clock for its delays. */
export function startHub(options: Partial<GlassesHubOptions> = {}) {
  const hubId = "hub-glasses-1";
  const glasses = new FakeGlasses();
  const settlement = new FakeSettlement(hubId);
  const hubKey = generateP256();
  let seq = 0;
  const deps = {
    glasses,
    settlement,
    verifier: new FakeVerifier(),
    signer: { seal: (body: object) => sealMessage(body, hubKey.privateKey) },
    seq: { next: () => ++seq },
    parser: new TableIntentParser(),
    clock: new ManualClock(),
    random: new SeededRandom(7),
  };
  const config = glassesHubConfig({ hubId, pairing, timing, ...options });
  const clock = new SimulatedClock();
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
  return { hubId, actor, clock, glasses, settlement, deps, config, outcomes, until, listening, concluded };
}
