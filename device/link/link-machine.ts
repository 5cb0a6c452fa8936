import { assign, fromCallback, fromPromise, setup, type SnapshotFrom } from "xstate";
import { assert } from "../../core/assert.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { assertInRanges, type Ranges } from "../../core/ranges.ts";
import type { LinkPort, SettlementPort } from "../ports.ts";
import type { ClockWatch } from "./clock-watch.ts";

/** Durations in milliseconds. */
export interface LinkConfig {
  /** How long one connect attempt may take before it counts as failed. */
  connectTimeoutMs: number;
  reconnectBackoffBaseMs: number;
  reconnectBackoffMaxMs: number;
  /** Consecutive failed connects before the hub rests in `failed` for `failedCooldownMs`. */
  reconnectAttemptsMax: number;
  failedCooldownMs: number;
}

export const defaultLinkConfig: LinkConfig = {
  connectTimeoutMs: 10_000,
  reconnectBackoffBaseMs: 500,
  reconnectBackoffMaxMs: 30_000,
  reconnectAttemptsMax: 20,
  failedCooldownMs: 300_000,
};

export const linkConfigRanges: Required<Ranges<LinkConfig>> = {
  connectTimeoutMs: [100, 120_000, "milliseconds"],
  reconnectBackoffBaseMs: [10, 60_000, "milliseconds"],
  reconnectBackoffMaxMs: [10, 3_600_000, "milliseconds"],
  reconnectAttemptsMax: [1, 1_000, "attempts"],
  failedCooldownMs: [1_000, 86_400_000, "milliseconds"],
};

export interface LinkInput {
  link: LinkPort;
  /** Tells link status: it owns that fact, this machine only reacts to its changes. */
  settlement: SettlementPort;
  clockWatch: ClockWatch;
  config: LinkConfig;
}

/** LINK_UP / LINK_DOWN come from the settlement port; RECONNECT is a person skipping the cooldown. */
export type LinkEvent = { type: "LINK_UP" } | { type: "LINK_DOWN" } | { type: "RECONNECT" };

export interface LinkContext {
  readonly link: LinkPort;
  readonly settlement: SettlementPort;
  readonly clockWatch: ClockWatch;
  readonly config: LinkConfig;
  /** Consecutive failed connects since the link was last up. */
  reconnectAttempts: number;
  lastErrorCode: number | undefined;
}

export const watchLink = fromCallback<{ type: "LINK_UP" } | { type: "LINK_DOWN" }, { settlement: SettlementPort }>(
  ({ input, sendBack }) => input.settlement.onStatus((online) => sendBack({ type: online ? "LINK_UP" : "LINK_DOWN" })),
);

export const connectLink = fromPromise<void, { link: LinkPort }>(({ input, signal }) => input.link.connect({ signal }));

export function validateLinkConfig(config: LinkConfig): LinkConfig {
  assertInRanges(config, linkConfigRanges, "hub configuration");
  assertInRanges(config, { reconnectBackoffMaxMs: [config.reconnectBackoffBaseMs, 3_600_000, "milliseconds (at least reconnectBackoffBaseMs)"] }, "hub configuration");
  return config;
}

/** Exponential backoff, capped: base, 2·base, 4·base … max. `attempt` counts from 1. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(baseMs * 2 ** exponent, maxMs);
}

/**
 * A hub's link lifecycle, for tap and glasses hubs alike: boot → connecting → ready, and on a lost broker
 * reconnecting with backoff, resting after too many failures. It owns reconnecting; whether the link is up is the
 * settlement port's fact, which this machine and everyone else read.
 */
export const linkMachine = setup({
  types: {
    context: {} as LinkContext,
    events: {} as LinkEvent,
    input: {} as LinkInput,
  },
  actors: { watchLink, connectLink },
  actions: {
    recordConnectError: assign({
      lastErrorCode: ({ context, event }) => {
        const error = (event as { error?: unknown }).error;
        // The link adapter turns every operating fault into a TapwireError; anything else is a bug and crashes the hub.
        assert(isTapwireError(error), `connect failed with a non-TapwireError: ${String(error)}`);
        // A broker certificate "not yet valid" is the hub's clock, not the broker: say so where the clock is watched.
        if (error.code === ErrorCode.ClockWrong) context.clockWatch.certificateNotYetValid();
        return error.code;
      },
    }),
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
  id: "link",
  context: ({ input }) => ({
    link: input.link,
    settlement: input.settlement,
    clockWatch: input.clockWatch,
    config: validateLinkConfig(input.config),
    reconnectAttempts: 0,
    lastErrorCode: undefined,
  }),
  invoke: { src: "watchLink", input: ({ context }) => ({ settlement: context.settlement }) },
  initial: "boot",
  states: {
    boot: { always: "connecting" },
    connecting: {
      invoke: {
        src: "connectLink",
        input: ({ context }) => ({ link: context.link }),
        onDone: "ready",
        onError: { target: "reconnecting", actions: "recordConnectError" },
      },
      after: { connectTimeout: { target: "reconnecting", actions: assign({ lastErrorCode: ErrorCode.Offline }) } },
    },
    ready: {
      entry: ["resetReconnectAttempts", assign({ lastErrorCode: undefined })],
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

export type LinkSnapshot = SnapshotFrom<typeof linkMachine>;
export type LinkStateName = "boot" | "connecting" | "ready" | "reconnecting" | "failed";
