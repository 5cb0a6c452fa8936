import { assign, fromCallback, fromPromise, sendTo, setup, type EventObject, type SnapshotFrom } from "xstate";
import { ErrorCode, isTapwireError, TapwireError } from "../../protocol/errors.ts";
import type { Outbox } from "../link/outbox.ts";
import type { LinkPort, SettlementPort } from "../ports.ts";
import { backoffMs } from "../tap/tap-config.ts";
import { tapMachine, type TapEvent, type TapInput } from "../tap/tap-machine.ts";

/** Durations in milliseconds. */
export interface HubConfig {
  /** How long one connect attempt may take before it counts as failed. */
  connectTimeoutMs: number;
  reconnectBackoffBaseMs: number;
  reconnectBackoffMaxMs: number;
  /** Consecutive failed connects before the hub rests in `failed` for `failedCooldownMs`. */
  reconnectAttemptsMax: number;
  failedCooldownMs: number;
}

export const defaultHubConfig: HubConfig = {
  connectTimeoutMs: 10_000,
  reconnectBackoffBaseMs: 500,
  reconnectBackoffMaxMs: 30_000,
  reconnectAttemptsMax: 20,
  failedCooldownMs: 300_000,
};

export interface HubInput {
  /** The tap machine's ports and configuration; its settlement port and outbox are the hub's link too. */
  tap: Omit<TapInput, "online">;
  link: LinkPort;
  config: HubConfig;
}

/** SET_AMOUNT and CANCEL go to the tap machine; LINK_UP / LINK_DOWN come from the settlement port. */
export type HubEvent =
  | Extract<TapEvent, { type: "SET_AMOUNT" | "CANCEL" }>
  | { type: "LINK_UP" }
  | { type: "LINK_DOWN" }
  | { type: "RECONNECT" };

export interface HubContext {
  readonly tap: Omit<TapInput, "online">;
  readonly link: LinkPort;
  readonly config: HubConfig;
  /** Consecutive failed connects since the link was last up. */
  reconnectAttempts: number;
  lastErrorCode: number | undefined;
}

export const watchLink = fromCallback<{ type: "LINK_UP" } | { type: "LINK_DOWN" }, { settlement: SettlementPort }>(
  ({ input, sendBack }) => input.settlement.onStatus((online) => sendBack({ type: online ? "LINK_UP" : "LINK_DOWN" })),
);

/** The outbox resends on reconnect only while the hub runs: stopping the hub stops it. */
export const runOutbox = fromCallback<EventObject, { outbox: Outbox }>(({ input }) => {
  input.outbox.start();
  return () => input.outbox.stop();
});

export const connectLink = fromPromise<void, { link: LinkPort }>(({ input, signal }) => input.link.connect({ signal }));

function validateHubConfig(config: HubConfig): HubConfig {
  const problems = Object.entries(config)
    .filter(([, value]) => !Number.isSafeInteger(value) || value < 1)
    .map(([key, value]) => `${key}: must be a positive integer, got ${String(value)}`);
  if (config.reconnectBackoffMaxMs < config.reconnectBackoffBaseMs) {
    problems.push("reconnectBackoffMaxMs: must be at least reconnectBackoffBaseMs");
  }
  if (problems.length > 0) {
    throw new TapwireError(`invalid hub configuration: ${problems.join("; ")}`, ErrorCode.ConfigInvalid, { problems });
  }
  return config;
}

/**
 * The hub's lifecycle: boot → connecting → ready, and on a lost broker reconnecting with backoff. The tap
 * machine runs for the hub's whole life as child `tap`; the hub forwards SET_AMOUNT / CANCEL to it and tells it
 * whether the link is up, so a hub that is not ready refuses new amounts (refusal HubNotReady).
 */
export const hubMachine = setup({
  types: {
    context: {} as HubContext,
    events: {} as HubEvent,
    input: {} as HubInput,
    children: {} as { tap: "tapMachine" },
  },
  actors: { tapMachine, watchLink, runOutbox, connectLink },
  actions: {
    forwardToTap: sendTo("tap", ({ event }) => event as TapEvent),
    tellTapOnline: sendTo("tap", { type: "LINK", online: true } satisfies TapEvent),
    tellTapOffline: sendTo("tap", { type: "LINK", online: false } satisfies TapEvent),
    countReconnectAttempt: assign({ reconnectAttempts: ({ context }) => context.reconnectAttempts + 1 }),
    resetReconnectAttempts: assign({ reconnectAttempts: 0 }),
  },
  guards: {
    reconnectAttemptsSpent: ({ context }) => context.reconnectAttempts > context.config.reconnectAttemptsMax,
  },
  delays: {
    connectTimeout: ({ context }) => context.config.connectTimeoutMs,
    reconnectBackoff: ({ context }) =>
      backoffMs(context.reconnectAttempts, context.config.reconnectBackoffBaseMs, context.config.reconnectBackoffMaxMs),
    failedCooldown: ({ context }) => context.config.failedCooldownMs,
  },
}).createMachine({
  id: "hub",
  context: ({ input }) => ({
    tap: input.tap,
    link: input.link,
    config: validateHubConfig(input.config),
    reconnectAttempts: 0,
    lastErrorCode: undefined,
  }),
  invoke: [
    { id: "tap", src: "tapMachine", input: ({ context }) => ({ ...context.tap, online: false }) },
    { src: "watchLink", input: ({ context }) => ({ settlement: context.tap.ports.settlement }) },
    { src: "runOutbox", input: ({ context }) => ({ outbox: context.tap.ports.outbox }) },
  ],
  on: {
    SET_AMOUNT: { actions: "forwardToTap" },
    CANCEL: { actions: "forwardToTap" },
  },
  initial: "boot",
  states: {
    // The tap machine, link watcher and outbox start with the hub, before the first connect.
    boot: { always: "connecting" },
    connecting: {
      invoke: {
        src: "connectLink",
        input: ({ context }) => ({ link: context.link }),
        onDone: "ready",
        onError: {
          target: "reconnecting",
          actions: assign({
            lastErrorCode: ({ event }) => (isTapwireError(event.error) ? event.error.code : ErrorCode.Offline),
          }),
        },
      },
      after: { connectTimeout: { target: "reconnecting", actions: assign({ lastErrorCode: ErrorCode.Offline }) } },
    },
    ready: {
      entry: ["resetReconnectAttempts", "tellTapOnline", assign({ lastErrorCode: undefined })],
      exit: "tellTapOffline",
      on: { LINK_DOWN: { target: "reconnecting", actions: assign({ lastErrorCode: ErrorCode.Offline }) } },
    },
    reconnecting: {
      entry: "countReconnectAttempt",
      always: { guard: "reconnectAttemptsSpent", target: "failed" },
      after: { reconnectBackoff: "connecting" },
    },
    // Backoff alone would retry forever; after reconnectAttemptsMax the hub rests, then starts a fresh series.
    failed: {
      after: { failedCooldown: { target: "connecting", actions: "resetReconnectAttempts" } },
      on: { RECONNECT: { target: "connecting", actions: "resetReconnectAttempts" } },
    },
  },
});

export type HubSnapshot = SnapshotFrom<typeof hubMachine>;
