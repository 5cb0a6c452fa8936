import type { Decision, HceCredential } from "../protocol/messages.ts";

/**
 * The ports device/ needs from the outside world. device/ holds no driver: the lead adapts the PN532, GPIO and
 * MQTT drivers in firmware-bridge/ (or the simulator) to these interfaces and passes them in. Every method
 * that waits takes an AbortSignal or a timeout, so the machines can always stop what they started.
 */

/** The NFC front end (PN532 or a simulated field). */
export interface TapReaderPort {
  /**
   * Reader mode: waits for a phone or card, runs the EMV-shaped exchange (SELECT PPSE, SELECT AID, GPO with
   * amount, currency and the hub's unpredictable number) and returns the wallet's cryptogram. Must stop the
   * field and reject promptly when `signal` aborts (the machine aborts on cancel and on its tap timeout).
   */
  readCard(input: { hubId: string; amountMinor: number; currency: string; signal: AbortSignal }): Promise<HceCredential>;
  /**
   * Tag mode: presents a Type 4 tag whose NDEF record is `offer` (hub-signed TagOffer COSE_Sign1 bytes) and
   * resolves once a phone has read the whole record. After `signal` aborts the tag must no longer answer.
   */
  presentOffer(input: { offer: Buffer; signal: AbortSignal }): Promise<void>;
}

export const indicatorStates = ["idle", "offline", "waiting", "authorizing", "approved", "declined", "error", "cancelled"] as const;
export type IndicatorState = (typeof indicatorStates)[number];
export type BeepPattern = "approved" | "declined" | "error";

/** LEDs, buzzer and the cancel button (GPIO board or a simulated panel). Calls must not throw. */
export interface IndicatorPort {
  show(state: IndicatorState): void;
  beep(pattern: BeepPattern): void;
  /** Calls `listener` on each cancel-button press; returns the unsubscribe function. */
  onCancel(listener: () => void): () => void;
}

/** The MQTT request/response link to the settlement service. */
export interface SettlementPort {
  /**
   * Publishes the signed request and resolves with the service's Decision for `requestId`, its signature
   * already verified. Rejects TapwireError Offline (801) when not connected or the connection drops while
   * waiting, DecisionTimeout (802) after `timeoutMs`. Resending the same bytes is safe: the service answers
   * retries idempotently.
   */
  send(payload: Buffer, requestId: string, timeoutMs: number): Promise<Decision>;
  /**
   * Waits for a verified Decision for `requestId` without publishing anything (tag mode: the wallet pays
   * online and the service answers the hub). Rejects DecisionTimeout after `timeoutMs`, Offline if the
   * connection drops, Cancelled (803) when `signal` aborts.
   */
  awaitDecision(requestId: string, timeoutMs: number, signal?: AbortSignal): Promise<Decision>;
  /**
   * Calls `listener` on every change of the connection state (true once connected and subscribed, false when
   * lost); returns the unsubscribe function. The hub machine and the outbox's resend-on-reconnect rely on it.
   */
  onStatus(listener: (online: boolean) => void): () => void;
}

/**
 * Connection management of the same link. The hub machine owns reconnecting (with its own backoff), so the
 * adapter must not reconnect by itself (MQTT.js: `reconnectPeriod: 0`).
 */
export interface LinkPort {
  /** Resolves once connected and subscribed to the hub's `res` topic; rejects (or aborts) on failure. */
  connect(input: { signal: AbortSignal }): Promise<void>;
}

/** Signs a message body into COSE_Sign1 ES256 with the hub's key: a secure element or a key file. */
export interface HubSigner {
  seal(body: object): Buffer;
}

/** The per-hub monotonic request counter (`seq`); it must never repeat a value, across restarts too. */
export interface SeqStore {
  next(): number;
}
