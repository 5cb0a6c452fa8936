import type { Noble } from "@stoprocent/noble";
import type { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { BatteryMessage, BiometricAssertionMessage, ProductSeenMessage, UtteranceMessage } from "../../protocol/glasses.ts";
import { assertNoProblems, rangeProblems, type Ranges } from "../../core/ranges.ts";
import type { Clock, Random, Timers } from "../../core/sources.ts";
import { attMtuMax, attMtuMin, checkFrameLimits, defaultFrameLimits, type FrameLimits, type LinkEvent } from "./frames.ts";
import type { PairingStore } from "./pairing-store.ts";

/** Every step of the link has its own limit, in milliseconds. */
export interface GlassesLinkTimeouts {
  /** For the adapter to report poweredOn. */
  poweredOnMs: number;
  /** For tapwire glasses (the paired ones, or any in pairing mode) to show up in a scan. */
  scanMs: number;
  connectMs: number;
  /** Service and characteristic discovery together. */
  discoverMs: number;
  subscribeMs: number;
  /** For the MTU exchange to be reported after connecting; the link then assumes 23. */
  mtuMs: number;
  /** For each frame written. */
  writeMs: number;
  /** From auth_challenge to a valid auth_response. */
  authMs: number;
  /** For a whole pair(code) call, scan included. */
  pairMs: number;
  /** For a disconnect to be confirmed while tearing a connection down. */
  disconnectMs: number;
  /** For scanning to stop. */
  scanStopMs: number;
}

export interface ReconnectPolicy {
  /** The first wait after a failed attempt or a dropped link; doubles on every further failure. */
  delayMsInitial: number;
  delayMsMax: number;
  /** Consecutive failed attempts before the link gives up (state "failed"; start() again to retry). */
  attemptsMax: number;
}

export interface GlassesLinkOptions {
  /**
   * A noble instance the caller built: `withBindings("hci", …)` on a Pi, or `new Noble(virtualBindings)` in
   * the simulator. The link never builds one from the default bindings, and never stops it.
   */
  noble: Noble;
  store: PairingStore;
  clock?: Clock;
  /** Every wait of the link (step timeouts, backoff, the pairing limit, the reassembly check); real timers by default. */
  timers?: Timers;
  random?: Random;
  timeouts?: Partial<GlassesLinkTimeouts>;
  reconnect?: Partial<ReconnectPolicy>;
  /** ATT MTU the hub asks for (hci bindings read it from the connect parameters). */
  mtuRequested?: number;
  frames?: Partial<FrameLimits>;
  /** Write frames without response (faster; the frame layer detects losses) or with response. */
  writeWithoutResponse?: boolean;
  /** Messages waiting to be written, at most. */
  sendQueueMax?: number;
  /** How often incomplete messages are checked against the reassembly timeout while connected. */
  expireIntervalMs?: number;
  /** Battery reports at or below this emit `lowBattery`. */
  batteryLowPercent?: number;
  /** How old a biometric assertion may be when verifyAssertion checks it. */
  assertionAgeMsMax?: number;
}

export const defaultGlassesLinkTimeouts: GlassesLinkTimeouts = {
  poweredOnMs: 10_000,
  scanMs: 15_000,
  connectMs: 10_000,
  discoverMs: 5_000,
  subscribeMs: 3_000,
  mtuMs: 1_000,
  writeMs: 3_000,
  authMs: 5_000,
  pairMs: 60_000,
  disconnectMs: 2_000,
  scanStopMs: 2_000,
};

export const defaultReconnectPolicy: ReconnectPolicy = { delayMsInitial: 500, delayMsMax: 30_000, attemptsMax: 10 };

export type GlassesLinkState =
  | "stopped"
  | "waitingForAdapter"
  | "unpaired"
  | "scanning"
  | "connecting"
  | "discovering"
  | "pairing"
  | "authenticating"
  | "ready"
  | "backoff"
  | "failed";

/** What paired glasses tell the hub once the link is authenticated. */
export type GlassesInbound = ProductSeenMessage | UtteranceMessage | BiometricAssertionMessage | BatteryMessage;

/** A frame-layer event other than a delivered message, or a message that did not parse. */
export type LinkFault =
  | Exclude<LinkEvent, { kind: "message" }>
  | { kind: "unreadable"; code: ErrorCode; reason: string; seq: number };

export interface Refusal {
  code: ErrorCode;
  reason: string;
  glassesId?: string;
}

export interface GlassesLinkEvents {
  state: [state: GlassesLinkState];
  message: [message: GlassesInbound];
  linkFault: [fault: LinkFault];
  refused: [refusal: Refusal];
  connected: [info: { glassesId: string; peripheralId: string; mtu: number }];
  disconnected: [info: { reason: string }];
  mtu: [mtu: number];
  reconnecting: [info: { attempt: number; delayMs: number; code: ErrorCode }];
  failed: [error: TapwireError];
  lowBattery: [percent: number];
}

/** The link's settings with every default filled in and every range checked. */
export interface GlassesLinkSettings {
  timeouts: GlassesLinkTimeouts;
  reconnect: ReconnectPolicy;
  frameLimits: FrameLimits;
  mtuRequested: number;
  writeWithoutResponse: boolean;
  sendQueueMax: number;
  expireIntervalMs: number;
  batteryLowPercent: number;
  assertionAgeMsMax: number;
}

/** Fills in the defaults; ConfigInvalid listing every value out of its range. */
export function glassesLinkSettings(options: GlassesLinkOptions): GlassesLinkSettings {
  const settings: GlassesLinkSettings = {
    timeouts: { ...defaultGlassesLinkTimeouts, ...options.timeouts },
    reconnect: { ...defaultReconnectPolicy, ...options.reconnect },
    frameLimits: checkFrameLimits({ ...defaultFrameLimits, ...options.frames }),
    mtuRequested: options.mtuRequested ?? 247,
    writeWithoutResponse: options.writeWithoutResponse ?? true,
    sendQueueMax: options.sendQueueMax ?? 32,
    expireIntervalMs: options.expireIntervalMs ?? 250,
    batteryLowPercent: options.batteryLowPercent ?? 15,
    assertionAgeMsMax: options.assertionAgeMsMax ?? 60_000,
  };
  const timeoutRanges: Ranges<GlassesLinkTimeouts> = Object.fromEntries(
    Object.keys(settings.timeouts).map((name) => [name, [1, 3_600_000, "milliseconds"] as const]),
  );
  const { mtuRequested, sendQueueMax, expireIntervalMs, batteryLowPercent, assertionAgeMsMax, reconnect } = settings;
  assertNoProblems(
    [
      ...rangeProblems(
        { mtuRequested, sendQueueMax, expireIntervalMs, batteryLowPercent, assertionAgeMsMax },
        {
          mtuRequested: [attMtuMin, attMtuMax, "bytes"],
          sendQueueMax: [1, 1024, "messages"],
          expireIntervalMs: [1, 60_000, "milliseconds"],
          batteryLowPercent: [0, 100, "percent"],
          assertionAgeMsMax: [1, 3_600_000, "milliseconds"],
        },
      ),
      ...rangeProblems(
        reconnect,
        {
          delayMsInitial: [1, 600_000, "milliseconds"],
          delayMsMax: [reconnect.delayMsInitial, 3_600_000, "milliseconds"],
          attemptsMax: [1, 1_000_000, "attempts"],
        },
        "reconnect.",
      ),
      ...rangeProblems(settings.timeouts, timeoutRanges, "timeouts."),
    ],
    "glasses link options",
  );
  return settings;
}
