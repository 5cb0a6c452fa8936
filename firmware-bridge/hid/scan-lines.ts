import type { Clock } from "../../core/sources.ts";
import type { Keystroke } from "./keyboard-report.ts";

export interface ScanLineLimits {
  /** Longest scan kept: a QR code holds at most 4,296 alphanumeric characters (version 40-L). */
  lineCharsMax: number;
  /**
   * Longest pause inside one scan: a scanner types a whole code in a burst (a few ms per key), so characters after a
   * longer pause start over (the rest of a misread, a key bumped on a keyboard-class device).
   */
  interCharMsMax: number;
}

export const scanLineLimitsDefault: ScanLineLimits = { lineCharsMax: 4_296, interCharMsMax: 500 };

export type ScanLineEvent = { kind: "line"; text: string } | { kind: "dropped"; reason: string };

/** Keystrokes to scanned lines: each Enter ends one; too long or too slow, the line is dropped, never cut short. */
export class ScanLines {
  private chars: string[] = [];
  private overflowed = false;
  private lastCharAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly limits: ScanLineLimits,
    private readonly clock: Clock,
  ) {}

  push(stroke: Keystroke): ScanLineEvent | undefined {
    const nowMs = this.clock.nowMs();
    let dropped: ScanLineEvent | undefined;
    if (this.chars.length > 0 && nowMs - this.lastCharAtMs > this.limits.interCharMsMax) {
      dropped = { kind: "dropped", reason: `${this.chars.length} characters then a pause of ${nowMs - this.lastCharAtMs} ms` };
      this.reset();
    }
    if (stroke.kind === "enter") {
      const ended = this.end();
      return ended ?? dropped;
    }
    if (stroke.kind === "other") return dropped;
    this.lastCharAtMs = nowMs;
    if (this.chars.length >= this.limits.lineCharsMax) this.overflowed = true;
    else this.chars.push(stroke.char);
    return dropped;
  }

  private end(): ScanLineEvent | undefined {
    const overflowed = this.overflowed;
    const text = this.chars.join("");
    this.reset();
    if (overflowed) return { kind: "dropped", reason: `a scan longer than ${this.limits.lineCharsMax} characters` };
    return text.length > 0 ? { kind: "line", text } : undefined;
  }

  private reset(): void {
    this.chars = [];
    this.overflowed = false;
  }
}
