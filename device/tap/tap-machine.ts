import { assign, setup, type SnapshotFrom } from "xstate";
import { assert } from "../../protocol/assert.ts";
import { ErrorCode, isTapwireError, type ErrorCode as ErrorCodeValue } from "../../protocol/errors.ts";
import type { Decision, HceCredential } from "../../protocol/messages.ts";
import { amountMinorMax, isCurrency } from "../../protocol/money.ts";
import type { Clock, Random } from "../../protocol/sources.ts";
import type { Outbox } from "../link/outbox.ts";
import type { BeepPattern, HubSigner, IndicatorPort, IndicatorState, SeqStore, SettlementPort, TapReaderPort } from "../ports.ts";
import type { ReversalReason, SealedRequest, SealingSources } from "./requests.ts";
import {
  awaitDecision,
  presentOffer,
  readCard,
  sealOffer,
  sealPayment,
  sealReversalRequest,
  sendRequest,
  watchCancelButton,
} from "./tap-actors.ts";
import { backoffMs, validateTapConfig, type TapConfig } from "./tap-config.ts";

export type TapMode = "reader" | "tag";

export interface TapPorts {
  reader: TapReaderPort;
  indicator: IndicatorPort;
  /** Tag mode waits on it for the decision the wallet's online payment produces. */
  settlement: SettlementPort;
  /** Every hub-signed request (payment, reversal) goes out through the outbox. */
  outbox: Outbox;
  signer: HubSigner;
  seq: SeqStore;
  clock: Clock;
  random: Random;
}

export interface TapInput {
  ports: TapPorts;
  config: TapConfig;
  /** Whether the settlement link is up at start; LINK events keep it current. Defaults to false. */
  online?: boolean;
}

export type TapEvent =
  | { type: "SET_AMOUNT"; amountMinor: number; currency: string; mode: TapMode }
  | { type: "CANCEL" }
  | { type: "LINK"; online: boolean };

export interface Sale {
  amountMinor: number;
  currency: string;
  mode: TapMode;
}

/** Where the flow goes once the reversal is through. */
export type AfterReversal = "cancelled" | "timedOut" | "declined";

export interface ReversalRecord {
  /** requestId of the payment (reader) or offerId (tag) being undone. */
  paymentRequestId: string;
  reason: ReversalReason;
  then: AfterReversal;
  /** The signed reversal; every retry sends these same bytes. */
  request: SealedRequest | undefined;
  attempts: number;
  status: "pending" | "approved" | "failed";
}

export interface TapContext {
  readonly ports: TapPorts;
  readonly config: TapConfig;
  online: boolean;
  sale: Sale | undefined;
  credential: HceCredential | undefined;
  /** The hub-signed payment request (reader) or tag offer (tag) of the current sale. */
  sealed: SealedRequest | undefined;
  decision: Decision | undefined;
  /** 0 when approved, else a TapwireError code (from the service's decision or the hub itself). */
  lastDecisionCode: number | undefined;
  reason: string | undefined;
  reversal: ReversalRecord | undefined;
  /** Why the last SET_AMOUNT was refused (hub not ready, bad amount). */
  refusal: { code: ErrorCodeValue; reason: string } | undefined;
}

function errorFields(error: unknown): { lastDecisionCode: number | undefined; reason: string } {
  if (isTapwireError(error)) return { lastDecisionCode: error.code, reason: error.message };
  return { lastDecisionCode: undefined, reason: error instanceof Error ? error.message : String(error) };
}

/** Errors a send fails with before the request could have left the hub: nothing to reverse. */
function neverLeftHub(error: unknown): boolean {
  return isTapwireError(error, ErrorCode.OutboxFull) || isTapwireError(error, ErrorCode.MessageExpired);
}

function sealingSources(ports: TapPorts): SealingSources {
  return { signer: ports.signer, seq: ports.seq, clock: ports.clock, random: ports.random };
}

function startReversal(context: TapContext, reason: ReversalReason, then: AfterReversal): ReversalRecord {
  const paymentRequestId = context.sealed?.requestId;
  assert(paymentRequestId !== undefined, "reversal without a sealed payment");
  return { paymentRequestId, reason, then, request: undefined, attempts: 0, status: "pending" };
}

const tapSetup = setup({
  types: {
    context: {} as TapContext,
    events: {} as TapEvent,
    input: {} as TapInput,
  },
  actors: {
    watchCancelButton,
    readCard,
    presentOffer,
    sealOffer,
    sealPayment,
    sealReversalRequest,
    sendRequest,
    awaitDecision,
  },
  actions: {
    show: ({ context }, params: { state: IndicatorState }) => context.ports.indicator.show(params.state),
    beep: ({ context }, params: { pattern: BeepPattern }) => context.ports.indicator.beep(params.pattern),
    showLinkState: ({ context }) => context.ports.indicator.show(context.online ? "idle" : "offline"),
    showBusyOrOffline: ({ context }) => context.ports.indicator.show(context.online ? "authorizing" : "offline"),
    showDeclined: ({ context }) =>
      context.ports.indicator.show(context.lastDecisionCode === ErrorCode.Offline ? "offline" : "declined"),
    recordLink: assign({ online: ({ event }) => (event.type === "LINK" ? event.online : false) }),
    recordOffline: assign({ lastDecisionCode: ErrorCode.Offline, reason: "settlement link offline" }),
    recordCancelled: assign({ lastDecisionCode: ErrorCode.Cancelled, reason: "cancelled" }),
    recordTapTimeout: assign({ lastDecisionCode: ErrorCode.TapTimeout, reason: "no tap before the tap timeout" }),
    clearSale: assign({ sale: undefined, credential: undefined, sealed: undefined, decision: undefined }),
  },
  guards: {
    isOffline: ({ context }) => !context.online,
    isTagMode: ({ context }) => context.sale?.mode === "tag",
    linkWentDown: ({ event }) => event.type === "LINK" && !event.online,
    linkCameUp: ({ event }) => event.type === "LINK" && event.online,
    reversalAttemptsLeft: ({ context }) => (context.reversal?.attempts ?? 0) < context.config.reversalAttemptsMax,
  },
  delays: {
    tapTimeout: ({ context }) => context.config.tapTimeoutMs,
    decisionTimeout: ({ context }) => context.config.decisionTimeoutMs,
    resultDisplay: ({ context }) => context.config.resultDisplayMs,
    reversalBackoff: ({ context }) =>
      backoffMs(context.reversal?.attempts ?? 1, context.config.reversalBackoffBaseMs, context.config.reversalBackoffMaxMs),
  },
});

type TapStateConfig = NonNullable<Parameters<typeof tapSetup.createMachine>[0]["states"]>[string];
/** The config of one invoke of `src`, typed as the machine types it (its done event carries the actor's output). */
type InvokeOf<Src extends string> = Extract<Exclude<NonNullable<TapStateConfig["invoke"]>, readonly unknown[]>, { src: Src }>;
/** What sendRequest and awaitDecision finish with: both answer with a Decision. */
type DecisionTransitions = Extract<InvokeOf<"awaitDecision">["onDone"], readonly unknown[]>;
type FailureTransitions = Extract<InvokeOf<"awaitDecision">["onError"], readonly unknown[]>;

/**
 * Where a decision from the service takes the sale: one for another request, or a pending one (step-up, human
 * review), keeps it waiting in `waitTarget`.
 */
function routeDecision(waitTarget: "#tap.authorizing.awaiting" | "awaiting", reenter: boolean): DecisionTransitions {
  return [
    { guard: ({ context, event }) => event.output.requestId !== context.sealed?.requestId, target: waitTarget, reenter },
    {
      guard: ({ event }) => event.output.status === "approved",
      target: "#tap.approved",
      actions: assign(({ event }) => decisionFields(event.output)),
    },
    {
      guard: ({ event }) => event.output.status === "declined",
      target: "#tap.declined",
      actions: assign(({ event }) => decisionFields(event.output)),
    },
    { target: waitTarget, reenter, actions: assign(({ event }) => decisionFields(event.output)) },
  ];
}

/** A send or a wait failed once the request may have reached the service: void it before telling anyone it failed. */
function reverseAfterFailure(): FailureTransitions {
  return [
    {
      guard: ({ event }) => isTapwireError(event.error, ErrorCode.Offline),
      target: "#tap.reversing",
      actions: ["recordOffline", assign({ reversal: ({ context }) => startReversal(context, "timeout", "declined") })],
    },
    {
      target: "#tap.reversing",
      actions: assign(({ context, event }) => ({
        ...errorFields(event.error),
        reversal: startReversal(context, "timeout", "timedOut"),
      })),
    },
  ];
}

export const tapMachine = tapSetup.createMachine({
  id: "tap",
  context: ({ input }) => ({
    ports: input.ports,
    config: validateTapConfig(input.config),
    online: input.online ?? false,
    sale: undefined,
    credential: undefined,
    sealed: undefined,
    decision: undefined,
    lastDecisionCode: undefined,
    reason: undefined,
    reversal: undefined,
    refusal: undefined,
  }),
  invoke: { src: "watchCancelButton", input: ({ context }) => ({ indicator: context.ports.indicator }) },
  on: { LINK: { actions: "recordLink" } },
  initial: "idle",
  states: {
    idle: {
      entry: ["clearSale", "showLinkState"],
      on: {
        LINK: { actions: ["recordLink", "showLinkState"] },
        SET_AMOUNT: [
          {
            guard: "isOffline",
            actions: [
              assign({ refusal: { code: ErrorCode.HubNotReady, reason: "hub is not connected to the settlement service" } }),
              { type: "show", params: { state: "offline" } },
            ],
          },
          {
            guard: ({ event }) =>
              !Number.isSafeInteger(event.amountMinor) || event.amountMinor < 1 || event.amountMinor > amountMinorMax,
            actions: assign({ refusal: { code: ErrorCode.InvalidMoney, reason: "amount must be a positive integer of minor units" } }),
          },
          {
            guard: ({ event }) => !isCurrency(event.currency),
            actions: assign({ refusal: { code: ErrorCode.UnknownCurrency, reason: "unknown currency" } }),
          },
          {
            guard: ({ event }) => event.mode !== "reader" && event.mode !== "tag",
            actions: assign({ refusal: { code: ErrorCode.ConfigInvalid, reason: "mode must be reader or tag" } }),
          },
          {
            target: "amountSet",
            actions: assign({
              sale: ({ event }) => ({ amountMinor: event.amountMinor, currency: event.currency, mode: event.mode }),
              refusal: undefined,
              lastDecisionCode: undefined,
              reason: undefined,
              reversal: undefined,
            }),
          },
        ],
      },
    },

    amountSet: {
      always: [{ guard: "isTagMode", target: "waitingForTap.tag" }, { target: "waitingForTap.reader" }],
    },

    waitingForTap: {
      entry: { type: "show", params: { state: "waiting" } },
      initial: "reader",
      states: {
        reader: {
          invoke: {
            src: "readCard",
            input: ({ context }) => ({
              reader: context.ports.reader,
              hubId: context.config.hubId,
              amountMinor: context.sale!.amountMinor,
              currency: context.sale!.currency,
            }),
            onDone: [
              { guard: "isOffline", target: "#tap.declined", actions: "recordOffline" },
              { target: "#tap.authorizing.sealing", actions: assign({ credential: ({ event }) => event.output }) },
            ],
            onError: { target: "#tap.failed", actions: assign(({ event }) => errorFields(event.error)) },
          },
          after: { tapTimeout: { target: "#tap.timedOut", actions: "recordTapTimeout" } },
          on: {
            // Aborting the read (leaving the state aborts the actor's signal) is all a cancel needs: nothing was sent.
            CANCEL: { target: "#tap.cancelled", actions: "recordCancelled" },
            LINK: [
              { guard: "linkWentDown", target: "#tap.declined", actions: ["recordLink", "recordOffline"] },
              { actions: "recordLink" },
            ],
          },
        },

        tag: {
          initial: "sealing",
          states: {
            sealing: {
              invoke: {
                src: "sealOffer",
                input: ({ context }) => ({
                  sources: sealingSources(context.ports),
                  identity: context.config,
                  amountMinor: context.sale!.amountMinor,
                  currency: context.sale!.currency,
                  ttlMs: context.config.tapTimeoutMs + context.config.decisionTimeoutMs,
                }),
                onDone: { target: "offered", actions: assign({ sealed: ({ event }) => event.output }) },
                onError: { target: "#tap.failed", actions: assign(({ event }) => errorFields(event.error)) },
              },
              on: { CANCEL: { target: "#tap.cancelled", actions: "recordCancelled" } },
            },
            // Once presented, a phone may have read the offer and be paying online, so every way out except a
            // decision voids the offer: the service refuses a wallet payment for a reversed offerId.
            offered: {
              invoke: [
                {
                  src: "presentOffer",
                  input: ({ context }) => ({ reader: context.ports.reader, offer: context.sealed!.payload }),
                  onDone: { target: "#tap.authorizing.awaiting" },
                  onError: {
                    target: "#tap.reversing",
                    actions: assign(({ context, event }) => ({
                      ...errorFields(event.error),
                      reversal: startReversal(context, "cancelled", "declined"),
                    })),
                  },
                },
                {
                  // The wallet's decision can beat the reader's "read complete"; listen from the start.
                  src: "awaitDecision",
                  input: ({ context }) => ({
                    settlement: context.ports.settlement,
                    requestId: context.sealed!.requestId,
                    timeoutMs: context.config.tapTimeoutMs + context.config.decisionTimeoutMs,
                  }),
                  onDone: routeDecision("#tap.authorizing.awaiting", false),
                  // Losing this early listener is harmless: authorizing listens again and the tap timeout bounds the wait.
                  onError: {},
                },
              ],
              after: {
                tapTimeout: {
                  target: "#tap.reversing",
                  actions: [
                    "recordTapTimeout",
                    assign({ reversal: ({ context }) => startReversal(context, "timeout", "timedOut") }),
                  ],
                },
              },
              on: {
                CANCEL: {
                  target: "#tap.reversing",
                  actions: [
                    "recordCancelled",
                    assign({ reversal: ({ context }) => startReversal(context, "cancelled", "cancelled") }),
                  ],
                },
                LINK: [
                  {
                    guard: "linkWentDown",
                    target: "#tap.reversing",
                    actions: [
                      "recordLink",
                      "recordOffline",
                      assign({ reversal: ({ context }) => startReversal(context, "timeout", "declined") }),
                    ],
                  },
                  { actions: "recordLink" },
                ],
              },
            },
          },
        },
      },
    },

    authorizing: {
      entry: "showBusyOrOffline",
      initial: "sealing",
      after: {
        decisionTimeout: [
          {
            // Still signing (a slow secure element): nothing has left the hub.
            guard: ({ context }) => context.sealed === undefined,
            target: "timedOut",
            actions: assign({ lastDecisionCode: ErrorCode.DecisionTimeout, reason: "request not signed in time" }),
          },
          {
            target: "reversing",
            actions: [
              assign({ lastDecisionCode: ErrorCode.DecisionTimeout, reason: "no decision before the decision timeout" }),
              assign({ reversal: ({ context }) => startReversal(context, "timeout", "timedOut") }),
            ],
          },
        ],
      },
      on: {
        CANCEL: {
          target: "reversing",
          actions: ["recordCancelled", assign({ reversal: ({ context }) => startReversal(context, "cancelled", "cancelled") })],
        },
        LINK: { actions: ["recordLink", "showBusyOrOffline"] },
      },
      states: {
        sealing: {
          invoke: {
            src: "sealPayment",
            input: ({ context }) => ({
              sources: sealingSources(context.ports),
              identity: context.config,
              amountMinor: context.sale!.amountMinor,
              currency: context.sale!.currency,
              credential: context.credential!,
              ttlMs: context.config.requestTtlMs,
            }),
            onDone: { target: "sending", actions: assign({ sealed: ({ event }) => event.output }) },
            onError: { target: "#tap.failed", actions: assign(({ event }) => errorFields(event.error)) },
          },
          // Nothing signed has left the hub yet, so there is nothing to reverse.
          on: { CANCEL: { target: "#tap.cancelled", actions: "recordCancelled" } },
        },
        sending: {
          invoke: {
            src: "sendRequest",
            input: ({ context }) => ({ outbox: context.ports.outbox, request: context.sealed! }),
            onDone: routeDecision("awaiting", false),
            onError: [
              {
                guard: ({ event }) => neverLeftHub(event.error),
                target: "#tap.declined",
                actions: assign(({ event }) => errorFields(event.error)),
              },
              ...reverseAfterFailure(),
            ],
          },
        },
        // A decision for another request, or a pending one (step-up, human review): keep listening.
        awaiting: {
          invoke: {
            src: "awaitDecision",
            input: ({ context }) => ({
              settlement: context.ports.settlement,
              requestId: context.sealed!.requestId,
              timeoutMs: context.config.decisionTimeoutMs,
            }),
            onDone: routeDecision("awaiting", true),
            onError: reverseAfterFailure(),
          },
        },
      },
    },

    // Undo the payment before showing anything final: a cancelled or failed sale must never become a
    // silent charge. Retries send the same signed bytes through the outbox, with backoff, a bounded number
    // of times; a reversal that runs out of attempts stays in the outbox and goes out again on reconnect.
    reversing: {
      entry: "showBusyOrOffline",
      initial: "sealing",
      on: {
        LINK: { actions: ["recordLink", "showBusyOrOffline"] },
        CANCEL: {},
      },
      states: {
        sealing: {
          invoke: {
            src: "sealReversalRequest",
            input: ({ context }) => ({
              sources: sealingSources(context.ports),
              identity: context.config,
              outbox: context.ports.outbox,
              paymentRequestId: context.reversal!.paymentRequestId,
              reason: context.reversal!.reason,
              ttlMs: context.config.reversalTtlMs,
            }),
            onDone: {
              target: "sending",
              actions: assign({ reversal: ({ context, event }) => ({ ...context.reversal!, request: event.output }) }),
            },
            onError: {
              target: "#tap.failed",
              actions: assign(({ context, event }) => ({
                ...errorFields(event.error),
                reversal: { ...context.reversal!, status: "failed" as const },
              })),
            },
          },
        },
        sending: {
          entry: assign({ reversal: ({ context }) => ({ ...context.reversal!, attempts: context.reversal!.attempts + 1 }) }),
          invoke: {
            src: "sendRequest",
            input: ({ context }) => ({ outbox: context.ports.outbox, request: context.reversal!.request! }),
            onDone: [
              {
                guard: ({ context, event }) => event.output.requestId !== context.reversal?.request?.requestId,
                target: "backoff",
              },
              {
                guard: ({ event }) => reversalTookEffect(event.output),
                target: "done",
                actions: assign({ reversal: ({ context }) => ({ ...context.reversal!, status: "approved" as const }) }),
              },
              {
                target: "#tap.failed",
                actions: assign(({ context, event }) => ({
                  lastDecisionCode: ErrorCode.ReversalFailed,
                  reason: `reversal refused: ${event.output.reason}`,
                  reversal: { ...context.reversal!, status: "failed" as const },
                })),
              },
            ],
            onError: [
              { guard: "reversalAttemptsLeft", target: "backoff" },
              {
                target: "#tap.failed",
                actions: assign(({ context }) => ({
                  lastDecisionCode: ErrorCode.ReversalFailed,
                  reason: `reversal not confirmed after ${context.reversal!.attempts} attempts`,
                  reversal: { ...context.reversal!, status: "failed" as const },
                })),
              },
            ],
          },
        },
        backoff: {
          after: { reversalBackoff: "sending" },
          on: {
            LINK: [
              { guard: "linkCameUp", target: "sending", actions: ["recordLink", "showBusyOrOffline"] },
              { actions: ["recordLink", "showBusyOrOffline"] },
            ],
          },
        },
        done: {
          always: [
            { guard: ({ context }) => context.reversal?.then === "cancelled", target: "#tap.cancelled" },
            { guard: ({ context }) => context.reversal?.then === "timedOut", target: "#tap.timedOut" },
            { target: "#tap.declined" },
          ],
        },
      },
    },

    approved: {
      entry: [{ type: "show", params: { state: "approved" } }, { type: "beep", params: { pattern: "approved" } }],
      after: { resultDisplay: "idle" },
    },
    declined: {
      entry: ["showDeclined", { type: "beep", params: { pattern: "declined" } }],
      after: { resultDisplay: "idle" },
    },
    timedOut: {
      entry: [{ type: "show", params: { state: "error" } }, { type: "beep", params: { pattern: "error" } }],
      after: { resultDisplay: "idle" },
    },
    cancelled: {
      entry: { type: "show", params: { state: "cancelled" } },
      after: { resultDisplay: "idle" },
    },
    failed: {
      entry: [{ type: "show", params: { state: "error" } }, { type: "beep", params: { pattern: "error" } }],
      after: { resultDisplay: "idle" },
    },
  },
});

function decisionFields(decision: Decision): Pick<TapContext, "decision" | "lastDecisionCode" | "reason"> {
  return { decision, lastDecisionCode: decision.code, reason: decision.reason };
}

/** A reversal that finds the payment already reversed has still done its job. */
function reversalTookEffect(decision: Decision): boolean {
  return decision.status === "approved" || decision.code === ErrorCode.AlreadyReversed;
}

export type TapSnapshot = SnapshotFrom<typeof tapMachine>;
export const tapStateNames = [
  "idle",
  "amountSet",
  "waitingForTap",
  "authorizing",
  "reversing",
  "approved",
  "declined",
  "timedOut",
  "cancelled",
  "failed",
] as const;
export type TapStateName = (typeof tapStateNames)[number];

/** What a UI shows: plain data, no ports. */
export interface TapView {
  state: TapStateName;
  online: boolean;
  sale: Sale | undefined;
  lastDecisionCode: number | undefined;
  reason: string | undefined;
  reversal: { status: ReversalRecord["status"]; attempts: number; reason: ReversalReason } | undefined;
  refusal: TapContext["refusal"];
}

export function tapView(snapshot: TapSnapshot): TapView {
  const { context } = snapshot;
  const state = (typeof snapshot.value === "string" ? snapshot.value : Object.keys(snapshot.value)[0]) as TapStateName;
  return {
    state,
    online: context.online,
    sale: context.sale,
    lastDecisionCode: context.lastDecisionCode,
    reason: context.reason,
    reversal: context.reversal && {
      status: context.reversal.status,
      attempts: context.reversal.attempts,
      reason: context.reversal.reason,
    },
    refusal: context.refusal,
  };
}
