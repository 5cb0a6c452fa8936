import { assign, emit, fromCallback, fromPromise, setup } from "xstate";
import { assert } from "../../core/assert.ts";
import { ErrorCode, asTapwireError, isTapwireError } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import { hubStepUpApprovalSchema, paymentRequestSchema, type Decision, type DecisionStatus } from "../../protocol/messages.ts";
import type { JournalRequest, JournalSale } from "../journal/hub-journal.ts";
import { isLang, type Intent, type Lang } from "../intent/intent.ts";
import type { GlassesHubConfig } from "./config.ts";
import { paymentFields, stepUpApprovalFields } from "./hub-requests.ts";
import { isOfferable, isQuantityAllowed, offerFor } from "./offer.ts";
import type { OutcomeKind, PurchaseOutcome } from "./outcome.ts";
import type {
  BiometricIdentity,
  GlassesCard,
  GlassesEvent,
  GlassesHubDeps,
  Offer,
  Pairing,
  ProductSeen,
  Utterance,
} from "./ports.ts";
import { speech } from "./speech.ts";

const log = logger("tapwire:glasses-hub");

/** Fresh per biometric request, so an assertion answers exactly one question. */
export const challengeBytes = 32;

export interface GlassesHubInput {
  config: GlassesHubConfig;
}

export type GlassesHubEvent =
  | { type: "glasses.product_seen"; product: ProductSeen }
  | { type: "glasses.utterance"; utterance: Utterance }
  /** A decision that arrives after the request's own answer: the end of a human review. */
  | { type: "settlement.decision"; decision: Decision };

export type GlassesHubEmitted = { type: "outcome"; outcome: PurchaseOutcome };

export interface GlassesHubContext {
  config: GlassesHubConfig;
  /** The customer's language: the owner's until they speak, then the language they spoke. */
  lang: Lang;
  product: ProductSeen | undefined;
  quantity: number;
  utterance: Utterance | undefined;
  intent: Intent | undefined;
  unclearCount: number;
  stage: "purchase" | "step_up";
  stepUps: number;
  challenge: Uint8Array | undefined;
  assertion: Uint8Array | undefined;
  identity: BiometricIdentity | undefined;
  /** The request in flight (payment or step-up approval), journaled. */
  sealed: JournalRequest | undefined;
  /** The journal's sale of this purchase, once its payment is signed. */
  saleId: string | undefined;
  paymentRequestId: string | undefined;
  /** Every request sent for this purchase; a decision must answer one of them. */
  requestIds: string[];
  caseId: string | undefined;
  decision: Decision | undefined;
  outcome: PurchaseOutcome | undefined;
}

function freshPurchase(config: GlassesHubConfig): GlassesHubContext {
  return {
    config,
    lang: config.pairing.lang,
    product: undefined,
    quantity: 1,
    utterance: undefined,
    intent: undefined,
    unclearCount: 0,
    stage: "purchase",
    stepUps: 0,
    challenge: undefined,
    assertion: undefined,
    identity: undefined,
    sealed: undefined,
    saleId: undefined,
    paymentRequestId: undefined,
    requestIds: [],
    caseId: undefined,
    decision: undefined,
    outcome: undefined,
  };
}

function currentOffer(context: GlassesHubContext): Offer {
  assert(context.product !== undefined, "an offer needs a product");
  return offerFor(context.product, context.quantity);
}

function card(context: GlassesHubContext, kind: GlassesCard["kind"], text: string): GlassesCard {
  return { kind, lang: context.lang, text, offer: currentOffer(context) };
}

function resultCard(context: GlassesHubContext): GlassesCard {
  assert(context.outcome !== undefined, "a result needs an outcome");
  const offer = context.product ? currentOffer(context) : undefined;
  const text = speech[context.lang].outcome(context.outcome.kind, offer, context.config.quantityMax);
  return { kind: "result", lang: context.lang, text, ...(offer ? { offer } : {}) };
}

function codeOf(error: unknown, fallback: ErrorCode): number {
  return asTapwireError(error, fallback).code;
}

/** Ends the purchase as `kind` with `code`. */
function concludeAs(kind: OutcomeKind, code: number) {
  return { target: "#glassesHub.concluded", actions: { type: "conclude" as const, params: { kind, code } } };
}

/** Ends the purchase as `kind` with the error's own code, or `fallbackCode` when it carries none. */
function concludeOnError(kind: OutcomeKind, fallbackCode: ErrorCode) {
  return {
    target: "#glassesHub.concluded",
    actions: {
      type: "conclude" as const,
      params: ({ event }: { event: { error: unknown } }) => ({ kind, code: codeOf(event.error, fallbackCode) }),
    },
  };
}

interface PaymentInput {
  ttlMs: number;
  offer: Offer;
  pairing: Pairing;
  assertion: Uint8Array;
  utterance: Utterance | undefined;
}

interface ApprovalInput {
  ttlMs: number;
  saleId: string;
  merchantId: string;
  paymentRequestId: string;
  caseId: string | undefined;
  pairing: Pairing;
  assertion: Uint8Array;
}

function toHubEvent(event: GlassesEvent): GlassesHubEvent {
  return event.type === "product_seen"
    ? { type: "glasses.product_seen", product: event.product }
    : { type: "glasses.utterance", utterance: event.utterance };
}

/**
 * The glasses hub's purchase conversation as one statechart: paired → product seen → offer → spoken intent
 * → biometric confirmation → signed cart → decision (with step-up and human review) → result. Every side
 * effect is a named actor built over `deps`; every wait is a named delay; every way of not paying ends in
 * a distinct outcome (emitted as `outcome`) and never reaches `settlement.send` with a payment.
 *
 * Twice the house's ~300 lines, for the same reason as tap-machine.ts: a statechart split across files loses what a
 * reader needs, every way out of every state in one place. Its actors are built over `deps` in this file because
 * each is a few lines; the purchase rules and the view could move out when they grow.
 */
export function createGlassesHubMachine(deps: GlassesHubDeps) {
  return setup({
    types: {
      context: {} as GlassesHubContext,
      events: {} as GlassesHubEvent,
      input: {} as GlassesHubInput,
      emitted: {} as GlassesHubEmitted,
    },
    actors: {
      glassesEvents: fromCallback<GlassesHubEvent>(({ sendBack }) =>
        deps.glasses.subscribe((event) => sendBack(toHubEvent(event))),
      ),
      present: fromPromise<void, { card: GlassesCard }>(async ({ input }) => {
        await deps.glasses.show(input.card);
        await deps.glasses.say(input.card.text, input.card.lang);
      }),
      interpret: fromPromise<Intent, { utterance: Utterance }>(async ({ input }) =>
        deps.parser.parse(input.utterance.text, input.utterance.lang, input.utterance.asrConfidence),
      ),
      requestBiometric: fromPromise<{ challenge: Uint8Array; assertion: Uint8Array }, { timeoutMs: number }>(
        async ({ input, signal }) => {
          const challenge = deps.random.bytes(challengeBytes);
          const assertion = await deps.glasses.requestBiometric(challenge, { timeoutMs: input.timeoutMs, signal });
          return { challenge, assertion };
        },
      ),
      verifyBiometric: fromPromise<BiometricIdentity, { assertion: Uint8Array; challenge: Uint8Array }>(async ({ input }) =>
        deps.verifier.verify(input.assertion, input.challenge),
      ),
      sealPayment: fromPromise<JournalRequest, PaymentInput>(async ({ input }) => {
        const { offer } = input;
        const sale = { saleId: deps.random.uuid(), mode: "glasses", amountMinor: offer.amountMinor, currency: offer.currency };
        return deps.sealer.seal(
          paymentRequestSchema,
          { kind: "payment", saleId: sale.saleId, sale, ttlMs: input.ttlMs },
          paymentFields(offer, input.pairing, input.assertion, input.utterance),
        );
      }),
      sealApproval: fromPromise<JournalRequest, ApprovalInput>(async ({ input }) =>
        deps.sealer.seal(
          hubStepUpApprovalSchema,
          { kind: "step_up", saleId: input.saleId, targetRequestId: input.paymentRequestId, ttlMs: input.ttlMs },
          stepUpApprovalFields(input.merchantId, input.paymentRequestId, input.caseId, input.pairing, input.assertion),
        ),
      ),
      /** Sent (and resent) by the outbox; resolves with the first answer that is not a retry. */
      submit: fromPromise<Decision, { sealed: JournalRequest }>(async ({ input, signal }) => (await deps.outbox.send(input.sealed, signal)).decision),
      /** Journals the reversal and waits for the sale's outcome; the outbox goes on after the machine stops waiting. */
      reverse: fromPromise<JournalSale, { saleId: string; paymentRequestId: string }>(async ({ input, signal }) => {
        deps.outbox.reverse(input.saleId, input.paymentRequestId, "timeout");
        return deps.outbox.saleOutcome(input.saleId, signal);
      }),
    },
    actions: {
      resetPurchase: assign(({ context }) => freshPurchase(context.config)),
      startPurchase: assign(({ context }, params: { product: ProductSeen }) => ({
        ...freshPurchase(context.config),
        product: params.product,
      })),
      recordUtterance: assign(({ context }, params: { utterance: Utterance }) => ({
        utterance: params.utterance,
        lang: isLang(params.utterance.lang) ? params.utterance.lang : context.lang,
      })),
      recordIntent: assign((_, params: { intent: Intent }) => ({ intent: params.intent })),
      countUnclear: assign(({ context }) => ({ unclearCount: context.unclearCount + 1 })),
      applyQuantity: assign(({ context }) => ({
        quantity: context.intent?.kind === "quantity" ? context.intent.quantity : context.quantity,
      })),
      recordBiometric: assign((_, params: { challenge: Uint8Array; assertion: Uint8Array }) => ({
        challenge: params.challenge,
        assertion: params.assertion,
      })),
      recordIdentity: assign((_, params: { identity: BiometricIdentity }) => ({ identity: params.identity })),
      recordPaymentSealed: assign(({ context }, params: { sealed: JournalRequest }) => ({
        sealed: params.sealed,
        saleId: params.sealed.saleId,
        paymentRequestId: params.sealed.requestId,
        requestIds: [...context.requestIds, params.sealed.requestId],
      })),
      recordApprovalSealed: assign(({ context }, params: { sealed: JournalRequest }) => ({
        sealed: params.sealed,
        requestIds: [...context.requestIds, params.sealed.requestId],
      })),
      recordDecision: assign((_, params: { decision: Decision }) => ({ decision: params.decision })),
      enterStepUp: assign(({ context }) => ({
        stage: "step_up" as const,
        stepUps: context.stepUps + 1,
        caseId: context.decision?.caseId,
        challenge: undefined,
        assertion: undefined,
        identity: undefined,
      })),
      conclude: assign(({ context }, params: { kind: OutcomeKind; code: number }) => ({
        outcome: {
          kind: params.kind,
          code: params.code,
          ...(context.paymentRequestId === undefined ? {} : { paymentRequestId: context.paymentRequestId }),
          ...(context.decision === undefined ? {} : { decision: context.decision }),
        },
      })),
      emitOutcome: emit(({ context }) => {
        assert(context.outcome !== undefined, "concluded without an outcome");
        return { type: "outcome" as const, outcome: context.outcome };
      }),
      logOutcome: ({ context }) => log.info({ outcome: context.outcome?.kind, code: context.outcome?.code }, "purchase concluded"),
      logIgnored: (_, params: { reason: string; error?: unknown }) =>
        log.warn({ reason: params.reason, error: params.error === undefined ? undefined : String(params.error) }, "ignored"),
    },
    guards: {
      isOfferable: (_, params: { product: ProductSeen }) => isOfferable(params.product),
      intentIs: ({ context }, params: { kind: Intent["kind"] }) => context.intent?.kind === params.kind,
      unclearWithRetryLeft: ({ context }) =>
        context.intent?.kind === "unclear" && context.unclearCount < context.config.unclearRetriesMax,
      quantityRefused: ({ context }) =>
        context.intent?.kind === "quantity" &&
        context.product !== undefined &&
        !isQuantityAllowed(context.product, context.intent.quantity, context.config.quantityMax),
      quantityUnconfirmed: ({ context }) => context.intent?.kind === "quantity" && !context.intent.confirm,
      errorHasCode: (_, params: { error: unknown; codes: readonly ErrorCode[] }) =>
        isTapwireError(params.error) && params.codes.includes(params.error.code),
      glassesMismatch: ({ context }) => context.identity?.glassesId !== context.config.pairing.glassesId,
      ownerMismatch: ({ context }) => context.identity?.ownerId !== context.config.pairing.ownerId,
      inStepUp: ({ context }) => context.stage === "step_up",
      decisionMismatch: ({ context }) =>
        context.decision === undefined ||
        context.decision.hubId !== context.config.hubId ||
        !context.requestIds.includes(context.decision.requestId),
      decisionIs: ({ context }, params: { status: DecisionStatus }) => context.decision?.status === params.status,
      stepUpWithRetryLeft: ({ context }) =>
        context.decision?.status === "step_up_required" && context.stepUps < context.config.stepUpsMax,
      answersPurchase: ({ context }, params: { decision: Decision }) =>
        params.decision.hubId === context.config.hubId &&
        params.decision.status !== "human_review" &&
        (context.requestIds.includes(params.decision.requestId) ||
          (context.caseId !== undefined && params.decision.caseId === context.caseId)),
      needsReversal: ({ context }) =>
        context.paymentRequestId !== undefined &&
        context.outcome?.kind !== "approved" &&
        context.outcome?.kind !== "declined",
    },
    delays: {
      offerTimeout: ({ context }) => context.config.timing.offerTimeoutMs,
      intentTimeout: ({ context }) => context.config.timing.intentTimeoutMs,
      biometricTimeout: ({ context }) => context.config.timing.biometricTimeoutMs,
      decisionTimeout: ({ context }) => context.config.timing.decisionTimeoutMs,
      reviewTimeout: ({ context }) => context.config.timing.reviewTimeoutMs,
      resultDisplay: ({ context }) => context.config.timing.resultDisplayMs,
    },
  }).createMachine({
    id: "glassesHub",
    context: ({ input }) => freshPurchase(input.config),
    invoke: { id: "glassesEvents", src: "glassesEvents" },
    initial: "paired",
    states: {
      paired: {
        entry: "resetPurchase",
        on: {
          "glasses.product_seen": [
            {
              guard: { type: "isOfferable", params: ({ event }) => ({ product: event.product }) },
              target: "purchase",
              actions: { type: "startPurchase", params: ({ event }) => ({ product: event.product }) },
            },
            { actions: { type: "logIgnored", params: { reason: "product not offerable" } } },
          ],
        },
      },
      purchase: {
        initial: "offer",
        states: {
          offer: {
            initial: "presenting",
            after: {
              offerTimeout: concludeAs("offer_expired", ErrorCode.OfferExpired),
            },
            states: {
              presenting: {
                invoke: {
                  src: "present",
                  input: ({ context }) => ({ card: card(context, "offer", speech[context.lang].offer(currentOffer(context))) }),
                  onDone: "listening",
                  onError: concludeOnError("failed", ErrorCode.GlassesUnavailable),
                },
              },
              listening: {
                after: {
                  intentTimeout: concludeAs("silence", ErrorCode.IntentTimeout),
                },
                on: {
                  "glasses.utterance": {
                    target: "interpreting",
                    actions: { type: "recordUtterance", params: ({ event }) => ({ utterance: event.utterance }) },
                  },
                },
              },
              interpreting: {
                invoke: {
                  src: "interpret",
                  input: ({ context }) => {
                    assert(context.utterance !== undefined, "interpreting needs an utterance");
                    return { utterance: context.utterance };
                  },
                  onDone: {
                    target: "routing",
                    actions: { type: "recordIntent", params: ({ event }) => ({ intent: event.output }) },
                  },
                  onError: {
                    target: "routing",
                    actions: [
                      { type: "logIgnored", params: ({ event }) => ({ reason: "intent parser failed", error: event.error }) },
                      { type: "recordIntent", params: { intent: { kind: "unclear", reason: "parser_failed", confidence: 0 } } },
                    ],
                  },
                },
              },
              routing: {
                always: [
                  {
                    guard: { type: "intentIs", params: { kind: "cancel" } },
                    ...concludeAs("cancelled", ErrorCode.Cancelled),
                  },
                  {
                    guard: "unclearWithRetryLeft",
                    target: "reprompting",
                    actions: "countUnclear",
                  },
                  {
                    guard: { type: "intentIs", params: { kind: "unclear" } },
                    ...concludeAs("unclear", ErrorCode.IntentUnclear),
                  },
                  {
                    guard: "quantityRefused",
                    ...concludeAs("quantity_refused", ErrorCode.QuantityRefused),
                  },
                  { guard: "quantityUnconfirmed", target: "presenting", actions: "applyQuantity" },
                  { target: "#glassesHub.purchase.biometric", actions: "applyQuantity" },
                ],
              },
              reprompting: {
                invoke: {
                  src: "present",
                  input: ({ context }) => ({ card: card(context, "prompt", speech[context.lang].reprompt()) }),
                  onDone: "listening",
                  onError: concludeOnError("failed", ErrorCode.GlassesUnavailable),
                },
              },
            },
          },
          biometric: {
            initial: "prompting",
            after: {
              biometricTimeout: concludeAs("biometric_timeout", ErrorCode.BiometricTimeout),
            },
            states: {
              prompting: {
                invoke: {
                  src: "present",
                  input: ({ context }) => {
                    const words = speech[context.lang];
                    const text = context.stage === "step_up" ? words.stepUp() : words.confirmIdentity(currentOffer(context));
                    return { card: card(context, "prompt", text) };
                  },
                  onDone: "challenging",
                  onError: concludeOnError("failed", ErrorCode.GlassesUnavailable),
                },
              },
              challenging: {
                invoke: {
                  src: "requestBiometric",
                  input: ({ context }) => ({ timeoutMs: context.config.timing.biometricTimeoutMs }),
                  onDone: {
                    target: "verifying",
                    actions: { type: "recordBiometric", params: ({ event }) => event.output },
                  },
                  onError: [
                    {
                      guard: {
                        type: "errorHasCode",
                        params: ({ event }) => ({ error: event.error, codes: [ErrorCode.BiometricTimeout, ErrorCode.BleTimeout] }),
                      },
                      ...concludeAs("biometric_timeout", ErrorCode.BiometricTimeout),
                    },
                    {
                      guard: {
                        type: "errorHasCode",
                        params: ({ event }) => ({ error: event.error, codes: [ErrorCode.BiometricFailed] }),
                      },
                      ...concludeAs("biometric_failed", ErrorCode.BiometricFailed),
                    },
                    concludeOnError("failed", ErrorCode.GlassesUnavailable),
                  ],
                },
              },
              verifying: {
                invoke: {
                  src: "verifyBiometric",
                  input: ({ context }) => {
                    assert(context.assertion !== undefined && context.challenge !== undefined, "verifying needs an assertion");
                    return { assertion: context.assertion, challenge: context.challenge };
                  },
                  onDone: {
                    target: "checking",
                    actions: { type: "recordIdentity", params: ({ event }) => ({ identity: event.output }) },
                  },
                  onError: [
                    {
                      guard: {
                        type: "errorHasCode",
                        params: ({ event }) => ({ error: event.error, codes: [ErrorCode.OwnerMismatch, ErrorCode.GlassesNotPaired] }),
                      },
                      ...concludeOnError("wrong_person", ErrorCode.OwnerMismatch),
                    },
                    concludeAs("biometric_failed", ErrorCode.BiometricFailed),
                  ],
                },
              },
              checking: {
                always: [
                  {
                    guard: "glassesMismatch",
                    ...concludeAs("wrong_person", ErrorCode.GlassesNotPaired),
                  },
                  {
                    guard: "ownerMismatch",
                    ...concludeAs("wrong_person", ErrorCode.OwnerMismatch),
                  },
                  { guard: "inStepUp", target: "#glassesHub.purchase.sealingApproval" },
                  { target: "#glassesHub.purchase.sealingPayment" },
                ],
              },
            },
          },
          sealingPayment: {
            invoke: {
              src: "sealPayment",
              input: ({ context }) => {
                assert(context.assertion !== undefined, "a payment needs a verified assertion");
                return {
                  ttlMs: context.config.requestTtlMs,
                  offer: currentOffer(context),
                  pairing: context.config.pairing,
                  assertion: context.assertion,
                  utterance: context.utterance,
                };
              },
              onDone: {
                target: "submitting",
                actions: { type: "recordPaymentSealed", params: ({ event }) => ({ sealed: event.output }) },
              },
              onError: concludeOnError("failed", ErrorCode.HubNotReady),
            },
          },
          sealingApproval: {
            invoke: {
              src: "sealApproval",
              input: ({ context }) => {
                assert(context.assertion !== undefined && context.paymentRequestId !== undefined, "an approval needs a payment");
                assert(context.saleId !== undefined && context.product !== undefined, "an approval needs the sale");
                return {
                  ttlMs: context.config.requestTtlMs,
                  saleId: context.saleId,
                  merchantId: context.product.merchantId,
                  paymentRequestId: context.paymentRequestId,
                  caseId: context.caseId,
                  pairing: context.config.pairing,
                  assertion: context.assertion,
                };
              },
              onDone: {
                target: "submitting",
                actions: { type: "recordApprovalSealed", params: ({ event }) => ({ sealed: event.output }) },
              },
              onError: concludeOnError("failed", ErrorCode.HubNotReady),
            },
          },
          submitting: {
            after: {
              decisionTimeout: concludeAs("no_decision", ErrorCode.DecisionTimeout),
            },
            invoke: {
              src: "submit",
              input: ({ context }) => {
                assert(context.sealed !== undefined, "submitting needs a sealed request");
                return { sealed: context.sealed };
              },
              onDone: {
                target: "routingDecision",
                actions: { type: "recordDecision", params: ({ event }) => ({ decision: event.output }) },
              },
              onError: concludeOnError("no_decision", ErrorCode.DecisionTimeout),
            },
          },
          routingDecision: {
            always: [
              {
                guard: "decisionMismatch",
                ...concludeAs("no_decision", ErrorCode.DecisionMismatch),
              },
              {
                guard: { type: "decisionIs", params: { status: "approved" } },
                ...concludeAs("approved", 0),
              },
              {
                guard: { type: "decisionIs", params: { status: "declined" } },
                target: "#glassesHub.concluded",
                actions: {
                  type: "conclude",
                  params: ({ context }) => ({ kind: "declined", code: context.decision?.code ?? 0 }),
                },
              },
              {
                guard: "stepUpWithRetryLeft",
                target: "biometric",
                actions: "enterStepUp",
              },
              {
                guard: { type: "decisionIs", params: { status: "step_up_required" } },
                ...concludeAs("step_up_exhausted", ErrorCode.StepUpExhausted),
              },
              { target: "awaitingReview" },
            ],
          },
          awaitingReview: {
            invoke: {
              src: "present",
              input: ({ context }) => ({ card: card(context, "prompt", speech[context.lang].review()) }),
              onError: { actions: { type: "logIgnored", params: ({ event }) => ({ reason: "review notice not shown", error: event.error }) } },
            },
            after: {
              reviewTimeout: concludeAs("review_timeout", ErrorCode.ReviewTimeout),
            },
            on: {
              "settlement.decision": {
                guard: { type: "answersPurchase", params: ({ event }) => ({ decision: event.decision }) },
                target: "routingDecision",
                actions: { type: "recordDecision", params: ({ event }) => ({ decision: event.decision }) },
              },
            },
          },
        },
      },
      concluded: {
        entry: ["logOutcome", "emitOutcome"],
        always: [{ guard: "needsReversal", target: "reversing" }, { target: "showingResult" }],
      },
      // The reversal is journaled first; the outbox then owns it until the service has undone the payment, so
      // the glasses stop waiting after the decision timeout but the reversal is never dropped.
      reversing: {
        after: { decisionTimeout: "showingResult" },
        invoke: {
          src: "reverse",
          input: ({ context }) => {
            assert(context.paymentRequestId !== undefined && context.saleId !== undefined, "reversing needs a payment");
            return { saleId: context.saleId, paymentRequestId: context.paymentRequestId };
          },
          onDone: "showingResult",
          onError: {
            guard: ({ event }) => isTapwireError(event.error),
            target: "showingResult",
            actions: ({ event }) => log.error({ err: event.error }, "reversal could not be journaled; the payment stays in the journal and is resolved by resending it"),
          },
        },
      },
      showingResult: {
        after: { resultDisplay: "paired" },
        invoke: {
          src: "present",
          input: ({ context }) => ({ card: resultCard(context) }),
          onError: { actions: { type: "logIgnored", params: ({ event }) => ({ reason: "result not shown", error: event.error }) } },
        },
      },
    },
  });
}

export type GlassesHubMachine = ReturnType<typeof createGlassesHubMachine>;
