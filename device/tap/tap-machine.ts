import { assign, setup, type SnapshotFrom } from "xstate";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import type { BeepPattern, IndicatorState } from "../ports.ts";
import {
  awaitAnswer,
  awaitSale,
  presentOffer,
  readCard,
  reverse,
  sealOffer,
  sealPayment,
  sendRequest,
  storeOffline,
  watchCancelButton,
  watchClock,
  watchLink,
  watchReader,
  watchSales,
  watchScanner,
} from "./tap-actors.ts";
import { validateTapConfig } from "./tap-config.ts";
import { answerFields, cardRead, errorFields, reversalOf, type TapContext, type TapEvent, type TapInput } from "./tap-context.ts";
import { lastSaleIndicator, restingState, saleRefusal } from "./tap-rules.ts";

export type { AfterReversal, ReversalRecord, Sale, TapContext, TapEvent, TapInput, TapMode, TapPorts } from "./tap-context.ts";

/*
 * One statechart, read top to bottom as a sale goes (boot → recovering → idle → waitingForTap → authorizing or
 * storingOffline → reversing → a result), is longer than the house's ~300 lines: split, its states would lose the
 * shared setup (actors, guards, delays) their transitions are typed against.
 */

const tapSetup = setup({
  types: { context: {} as TapContext, events: {} as TapEvent, input: {} as TapInput },
  actors: {
    watchCancelButton,
    watchSales,
    watchReader,
    watchLink,
    watchClock,
    watchScanner,
    readCard,
    presentOffer,
    sealPayment,
    sealOffer,
    storeOffline,
    sendRequest,
    awaitAnswer,
    reverse,
    awaitSale,
  },
  actions: {
    show: ({ context }, params: { state: IndicatorState }) => context.ports.indicator.show(params.state),
    beep: ({ context }, params: { pattern: BeepPattern }) => context.ports.indicator.beep(params.pattern),
    showResting: ({ context }) => context.ports.indicator.show(restingState(context)),
    showProgress: ({ context }) => context.ports.indicator.show(context.ports.settlement.online ? "authorizing" : "offline"),
    recordSale: assign({ lastSale: ({ context, event }) => (event.type === "SALE_SETTLED" ? event.sale : context.lastSale) }),
    recordCancelled: assign({ lastDecisionCode: ErrorCode.Cancelled, reason: "cancelled" }),
    recordTapTimeout: assign({ lastDecisionCode: ErrorCode.TapTimeout, reason: "no tap before the tap timeout" }),
    refuseBusy: assign({ refusal: { code: ErrorCode.BusyAlready, reason: "the hub is busy with a sale" } }),
    clearSale: assign({ sale: undefined, credential: undefined, request: undefined, answer: undefined }),
  },
  guards: {
    isOnline: ({ context }) => context.ports.settlement.online,
    isTagMode: ({ context }) => context.sale?.mode === "tag",
    isOfflineSale: ({ context }) => context.sale?.offline === true,
    canSellOffline: ({ context }) => context.config.offline !== undefined && context.sale?.mode === "reader",
    isTapwire: ({ event }) => isTapwireError((event as { error?: unknown }).error),
    lastSalePending: ({ context }) => context.lastSale?.outcome === "pending",
  },
  delays: {
    tapTimeout: ({ context }) => context.config.tapTimeoutMs,
    decisionTimeout: ({ context }) => context.config.decisionTimeoutMs,
    resultDisplay: ({ context }) => context.config.resultDisplayMs,
  },
});

export const tapMachine = tapSetup.createMachine({
  id: "tap",
  context: ({ input }) => ({
    ports: input.ports,
    config: validateTapConfig(input.config),
    sale: undefined,
    credential: undefined,
    request: undefined,
    answer: undefined,
    lastDecisionCode: undefined,
    reason: undefined,
    reversal: undefined,
    refusal: undefined,
    lastSale: input.lastSale,
  }),
  invoke: [
    { src: "watchCancelButton", input: ({ context }) => ({ indicator: context.ports.indicator }) },
    { src: "watchSales", input: ({ context }) => ({ outbox: context.ports.outbox }) },
    { src: "watchReader", input: ({ context }) => ({ reader: context.ports.reader }) },
    { src: "watchLink", input: ({ context }) => ({ settlement: context.ports.settlement }) },
    { src: "watchClock", input: ({ context }) => ({ clockWatch: context.ports.clockWatch }) },
    { src: "watchScanner", input: ({ context }) => ({ scanner: context.ports.scanner }) },
  ],
  on: {
    SALE_SETTLED: { actions: "recordSale" },
    SET_AMOUNT: { actions: "refuseBusy" },
  },
  initial: "boot",
  states: {
    // After a (re)start the panel first says what became of the last sale, so a power cut never ends in a blank idle.
    boot: {
      always: [
        { guard: "lastSalePending", target: "recovering" },
        { guard: ({ context }) => context.lastSale !== undefined, target: "showingLastSale" },
        { target: "idle" },
      ],
    },

    // A reboot mid-sale: the outbox resends or asks until the sale is settled; the panel then shows how it ended.
    recovering: {
      entry: "showProgress",
      invoke: {
        src: "awaitSale",
        input: ({ context }) => ({ outbox: context.ports.outbox, saleId: context.lastSale!.saleId }),
        onDone: { target: "showingLastSale", actions: assign({ lastSale: ({ event }) => event.output }) },
      },
      after: { decisionTimeout: "idle" },
    },
    showingLastSale: {
      entry: ({ context }) => context.ports.indicator.show(lastSaleIndicator(context.lastSale)),
      after: { resultDisplay: "idle" },
    },

    idle: {
      entry: ["clearSale", "showResting"],
      on: {
        READER: { actions: "showResting" },
        LINK: { actions: "showResting" },
        CLOCK: { actions: "showResting" },
        SET_AMOUNT: [
          {
            guard: ({ context, event }) => saleRefusal(context, event) !== undefined,
            actions: [assign({ refusal: ({ context, event }) => saleRefusal(context, event) }), "showResting"],
          },
          {
            target: "waitingForTap",
            actions: assign({
              sale: ({ context, event }) => ({
                amountMinor: event.amountMinor,
                currency: event.currency,
                mode: event.mode,
                offline: !context.ports.settlement.online,
              }),
              refusal: undefined,
              lastDecisionCode: undefined,
              reason: undefined,
              reversal: undefined,
            }),
          },
        ],
      },
    },

    waitingForTap: {
      entry: { type: "show", params: { state: "waiting" } },
      initial: "choosing",
      states: {
        choosing: { always: [{ guard: "isTagMode", target: "tag" }, { target: "reader" }] },
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
              // The link decides at the moment of the tap, not at the moment the amount was typed.
              { guard: "isOnline", target: "#tap.authorizing", actions: assign({ credential: ({ event }) => event.output }) },
              { guard: "canSellOffline", target: "#tap.storingOffline", actions: assign({ credential: ({ event }) => event.output }) },
              {
                target: "#tap.declined",
                actions: assign({ lastDecisionCode: ErrorCode.Offline, reason: "the link went down and offline sales are off" }),
              },
            ],
            onError: { guard: "isTapwire", target: "#tap.failed", actions: assign(({ event }) => errorFields(event.error)) },
          },
          after: { tapTimeout: { target: "#tap.timedOut", actions: "recordTapTimeout" } },
          // Aborting the read (leaving the state aborts the actor's signal) is all a cancel needs: nothing was sent.
          on: {
            CANCEL: { target: "#tap.cancelled", actions: "recordCancelled" },
            // A payment code scanned instead of a tap; the read is aborted by leaving. A code pays once, which only
            // the service can check, so offline it is declined rather than stored.
            SCAN: [
              { guard: "isOnline", target: "#tap.authorizing", actions: assign({ credential: ({ event }) => event.credential }) },
              {
                target: "#tap.declined",
                actions: assign({ lastDecisionCode: ErrorCode.Offline, reason: "a payment code needs the link: its one use is checked by the service" }),
              },
            ],
            // Not a payment code (a product barcode, a damaged or foreign code): the sale waits on, the buzzer says no.
            SCAN_REFUSED: { actions: [assign({ refusal: ({ event }) => ({ code: event.code, reason: event.reason }) }), { type: "beep", params: { pattern: "error" } }] },
          },
        },
        tag: {
          initial: "sealing",
          states: {
            sealing: {
              invoke: {
                src: "sealOffer",
                input: ({ context }) => ({
                  sealer: context.ports.sealer,
                  random: context.ports.random,
                  amountMinor: context.sale!.amountMinor,
                  currency: context.sale!.currency,
                  ttlMs: context.config.tapTimeoutMs + context.config.decisionTimeoutMs,
                }),
                onDone: { target: "offered", actions: assign({ request: ({ event }) => event.output }) },
                onError: { guard: "isTapwire", target: "#tap.declined", actions: assign(({ event }) => errorFields(event.error)) },
              },
            },
            // Once presented, a phone may have read the offer and be paying online, so every way out except a
            // decision voids the offer: the service refuses a wallet payment for a reversed offerId.
            offered: {
              invoke: [
                {
                  src: "presentOffer",
                  input: ({ context }) => ({ reader: context.ports.reader, offer: context.request!.payload! }),
                  onDone: { target: "#tap.authorizing.awaiting" },
                  onError: {
                    guard: "isTapwire",
                    target: "#tap.reversing",
                    actions: assign(({ context, event }) => ({ ...errorFields(event.error), reversal: reversalOf(context, "cancelled", "declined") })),
                  },
                },
                {
                  // The wallet's decision can beat the reader's "read complete"; listen from the start.
                  src: "sendRequest",
                  input: ({ context }) => ({ outbox: context.ports.outbox, request: context.request! }),
                  onDone: [
                    { guard: ({ event }) => event.output.class === "held", target: "#tap.authorizing.awaiting", actions: assign(({ event }) => answerFields(event.output)) },
                    { guard: ({ event }) => event.output.decision.status === "approved", target: "#tap.approved", actions: assign(({ event }) => answerFields(event.output)) },
                    { target: "#tap.declined", actions: assign(({ event }) => answerFields(event.output)) },
                  ],
                },
              ],
              after: {
                tapTimeout: {
                  target: "#tap.reversing",
                  actions: ["recordTapTimeout", assign({ reversal: ({ context }) => reversalOf(context, "timeout", "timedOut") })],
                },
              },
              on: {
                CANCEL: {
                  target: "#tap.reversing",
                  actions: ["recordCancelled", assign({ reversal: ({ context }) => reversalOf(context, "cancelled", "cancelled") })],
                },
              },
            },
          },
        },
      },
    },

    storingOffline: {
      invoke: {
        src: "storeOffline",
        input: ({ context }) => ({
          outbox: context.ports.outbox,
          random: context.ports.random,
          offline: context.config.offline!,
          amountMinor: context.sale!.amountMinor,
          credential: cardRead(context),
        }),
        onDone: { target: "approvedOffline", actions: assign({ lastSale: ({ event }) => event.output, lastDecisionCode: 0, reason: "approved offline" }) },
        // Over a floor limit, or the journal cannot take it: nothing was promised and nothing is charged.
        onError: { guard: "isTapwire", target: "declined", actions: assign(({ event }) => errorFields(event.error)) },
      },
    },

    authorizing: {
      entry: "showProgress",
      initial: "sealing",
      after: {
        decisionTimeout: [
          // Still signing or journaling (a slow secure element or disk): nothing has left the hub.
          {
            guard: ({ context }) => context.request === undefined,
            target: "timedOut",
            actions: assign({ lastDecisionCode: ErrorCode.DecisionTimeout, reason: "request not signed in time" }),
          },
          {
            target: "reversing",
            actions: [
              assign({ lastDecisionCode: ErrorCode.DecisionTimeout, reason: "no decision before the decision timeout" }),
              assign({ reversal: ({ context }) => reversalOf(context, "timeout", "timedOut") }),
            ],
          },
        ],
      },
      on: {
        CANCEL: [
          { guard: ({ context }) => context.request === undefined, target: "cancelled", actions: "recordCancelled" },
          { target: "reversing", actions: ["recordCancelled", assign({ reversal: ({ context }) => reversalOf(context, "cancelled", "cancelled") })] },
        ],
        LINK: { actions: "showProgress" },
      },
      states: {
        sealing: {
          invoke: {
            src: "sealPayment",
            input: ({ context }) => ({
              sealer: context.ports.sealer,
              random: context.ports.random,
              amountMinor: context.sale!.amountMinor,
              currency: context.sale!.currency,
              credential: context.credential!,
              ttlMs: context.config.requestTtlMs,
            }),
            onDone: { target: "sending", actions: assign({ request: ({ event }) => event.output }) },
            // JournalFull, JournalUnavailable: nothing was signed into the journal, so nothing can leave.
            onError: { guard: "isTapwire", target: "#tap.declined", actions: assign(({ event }) => errorFields(event.error)) },
          },
        },
        sending: {
          invoke: {
            src: "sendRequest",
            input: ({ context }) => ({ outbox: context.ports.outbox, request: context.request! }),
            onDone: [
              { guard: ({ event }) => event.output.class === "held", target: "awaiting", actions: assign(({ event }) => answerFields(event.output)) },
              { guard: ({ event }) => event.output.decision.status === "approved", target: "#tap.approved", actions: assign(({ event }) => answerFields(event.output)) },
              { target: "#tap.declined", actions: assign(({ event }) => answerFields(event.output)) },
            ],
          },
        },
        // Held for a person or an operator: the final answer follows; the decision timeout still bounds the wait.
        awaiting: {
          invoke: {
            src: "awaitAnswer",
            input: ({ context }) => ({ outbox: context.ports.outbox, requestId: context.request!.requestId }),
            onDone: [
              { guard: ({ event }) => event.output.class === "held", target: "awaiting", reenter: true, actions: assign(({ event }) => answerFields(event.output)) },
              { guard: ({ event }) => event.output.decision.status === "approved", target: "#tap.approved", actions: assign(({ event }) => answerFields(event.output)) },
              { target: "#tap.declined", actions: assign(({ event }) => answerFields(event.output)) },
            ],
          },
        },
      },
    },

    // Undo the payment before showing anything final: a cancelled or failed sale must never become a silent
    // charge. The reversal is journaled before anything else; the outbox owns sending it until it is decided.
    reversing: {
      entry: "showProgress",
      initial: "journaling",
      on: { LINK: { actions: "showProgress" }, CANCEL: {} },
      states: {
        journaling: {
          invoke: {
            src: "reverse",
            input: ({ context }) => ({
              outbox: context.ports.outbox,
              saleId: context.reversal!.saleId,
              paymentRequestId: context.reversal!.paymentRequestId,
              reason: context.reversal!.reason,
            }),
            onDone: "confirming",
            onError: {
              guard: "isTapwire",
              target: "#tap.failed",
              actions: assign(({ context, event }) => ({ ...errorFields(event.error), reversal: { ...context.reversal!, status: "refused" as const } })),
            },
          },
        },
        confirming: {
          invoke: {
            src: "awaitSale",
            input: ({ context }) => ({ outbox: context.ports.outbox, saleId: context.reversal!.saleId }),
            onDone: [
              {
                guard: ({ event }) => event.output.outcome === "reversed",
                target: "done",
                actions: assign({ reversal: ({ context }) => ({ ...context.reversal!, status: "reversed" as const }), lastSale: ({ event }) => event.output }),
              },
              {
                target: "#tap.failed",
                actions: assign(({ context, event }) => ({
                  lastDecisionCode: ErrorCode.ReversalFailed,
                  reason: `reversal refused: E${event.output.code}`,
                  reversal: { ...context.reversal!, status: "refused" as const },
                  lastSale: event.output,
                })),
              },
            ],
          },
          // The customer is not kept waiting: the outbox goes on resending, and the sale's outcome follows.
          after: { decisionTimeout: "done" },
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
    approvedOffline: {
      entry: [{ type: "show", params: { state: "approvedOffline" } }, { type: "beep", params: { pattern: "approved" } }],
      after: { resultDisplay: "idle" },
    },
    declined: {
      entry: [{ type: "show", params: { state: "declined" } }, { type: "beep", params: { pattern: "declined" } }],
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

export type TapSnapshot = SnapshotFrom<typeof tapMachine>;
