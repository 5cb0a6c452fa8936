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
  /** Whether the reader answers now; the reader adapter owns this fact. */
  readonly present: boolean;
  /**
   * Calls `listener` on every change of whether the reader answers (false: unplugged, its link gone, being
   * reopened); returns the unsubscribe function. A reader that never goes away never calls it.
   */
  onPresence(listener: (present: boolean) => void): () => void;
}

/** The reading half of a reader, without its presence: what a driver adapter offers before it is supervised. */
export type TapReading = Pick<TapReaderPort, "readCard" | "presentOffer">;

export const indicatorStates = [
  "idle",
  "offline",
  "waiting",
  "authorizing",
  "approved",
  "approvedOffline",
  "declined",
  "error",
  "cancelled",
  "clockWrong",
  "readerGone",
] as const;
export type IndicatorState = (typeof indicatorStates)[number];
export type BeepPattern = "approved" | "declined" | "error";

/**
 * A payment-code scanner (a USB HID barcode/QR scanner, or a simulated one): every complete scan, as the text it
 * read. Whether the text is a payment code is the tap machine's question, not the scanner's.
 */
export interface CodeScannerPort {
  /** Calls `listener` with each scan; returns the unsubscribe function. */
  onScan(listener: (text: string) => void): () => void;
}

/** LEDs, buzzer and the cancel button (GPIO board or a simulated panel). Calls must not throw. */
export interface IndicatorPort {
  show(state: IndicatorState): void;
  beep(pattern: BeepPattern): void;
  /** Calls `listener` on each cancel-button press; returns the unsubscribe function. */
  onCancel(listener: () => void): () => void;
}

/**
 * The hub's link to the settlement service, as the outbox sees it: publish bytes, hear decisions. It owns the
 * fact "link up": `online` is that fact and onStatus tells its changes; nobody else keeps a copy.
 */
export interface SettlementPort {
  /** True once connected and subscribed to the hub's `res` topic (a request sent earlier could lose its reply). */
  readonly online: boolean;
  /** Publishes signed request bytes (QoS 1); resolves once the broker has them. Rejects Offline when not connected. */
  publish(payload: Buffer): Promise<void>;
  /** Every verified decision addressed to this hub, with its bytes as received; returns the unsubscribe function. */
  onDecision(listener: (decision: Decision, bytes: Buffer) => void): () => void;
  /** Calls `listener` on every change of `online`; returns the unsubscribe function. */
  onStatus(listener: (online: boolean) => void): () => void;
}

/**
 * Connection management of the same link. The hub machine owns reconnecting (with its own backoff), so the
 * adapter must not reconnect by itself (MQTT.js: `reconnectPeriod: 0`).
 */
export interface LinkPort {
  /**
   * Resolves once connected and subscribed to the hub's `res` topic; rejects (or aborts) on failure: ClockWrong
   * when the broker's certificate is not yet valid by the hub's clock, the broker's refusal, or Offline.
   */
  connect(input: { signal: AbortSignal }): Promise<void>;
}

/** Signs a message body into COSE_Sign1 ES256 with the hub's key: a secure element or a key file. */
export interface HubSigner {
  seal(body: object): Buffer;
}
