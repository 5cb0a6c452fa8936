/**
 * What the hub shows and sounds, with no hardware import: device/ depends on this type, and the Firmata panel
 * (hub-panel.ts), a screen, or a test fake implements it.
 */

/**
 * The payment flow's state; the colour follows from it (green approved, red declined/error, amber in between,
 * red and amber together for a fault the cashier must fix: reader gone, clock wrong).
 */
export const indicatorStates = ["idle", "waiting", "authorizing", "approved", "declined", "error", "fault"] as const;
export type IndicatorState = (typeof indicatorStates)[number];

export const beepPatterns = ["approved", "declined", "error"] as const;
export type BeepPattern = (typeof beepPatterns)[number];

export type Unsubscribe = () => void;

export interface BeepOptions {
  /** Aborting stops the pattern at once and leaves the buzzer off. */
  signal?: AbortSignal;
}

export interface StatusIndicator {
  /** Lights the LED for `state` and turns the other payment LEDs off. */
  showState(state: IndicatorState): void;
  /** The connectivity LED (blue), independent of the payment state. */
  showOnline(online: boolean): void;
  /**
   * Plays a pattern: approved = one short beep, declined = two long, error = three short. A new pattern cancels
   * the one playing. Resolves when the pattern has finished or was cancelled; never rejects.
   */
  beep(pattern: BeepPattern, options?: BeepOptions): Promise<void>;
  /** The listener runs once per debounced press of the cancel button. */
  onCancel(listener: () => void): Unsubscribe;
}
