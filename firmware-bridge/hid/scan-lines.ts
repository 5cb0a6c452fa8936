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

/**
 * One scan being read, in whatever pieces the scanner sends it (keystrokes, HID POS reports): bounded (a longer
 * scan is dropped whole, never cut short) and timed (a pause longer than interCharMsMax breaks it off).
 */
export class ScanBuffer {
  private pieces: string[] = [];
  private held = 0;
  private overflowed = false;
  private lastAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly limits: ScanLineLimits,
    /** What its length counts, for the reason a scan too long was dropped. */
    private readonly unit: "characters" | "bytes",
  ) {}

  /** The characters held so far. */
  get length(): number {
    return this.held;
  }

  /** How long since the last piece, when something is held and that pause breaks the scan off; else undefined. */
  pauseBreaking(nowMs: number): number | undefined {
    const pausedMs = nowMs - this.lastAtMs;
    return this.pieces.length > 0 && pausedMs > this.limits.interCharMsMax ? pausedMs : undefined;
  }

  append(piece: string, nowMs: number): void {
    this.lastAtMs = nowMs;
    if (this.held + piece.length > this.limits.lineCharsMax) this.overflowed = true;
    else {
      this.pieces.push(piece);
      this.held += piece.length;
    }
  }

  /** The scan is complete: its text, or why it was dropped, or nothing for an empty one. Starts the next. */
  finish(): ScanLineEvent | undefined {
    const overflowed = this.overflowed;
    const text = this.pieces.join("");
    this.reset();
    if (overflowed) return { kind: "dropped", reason: `a scan longer than ${this.limits.lineCharsMax} ${this.unit}` };
    return text.length > 0 ? { kind: "line", text } : undefined;
  }

  reset(): void {
    this.pieces = [];
    this.held = 0;
    this.overflowed = false;
  }
}

/** Keystrokes to scanned lines: each Enter ends one. */
export class ScanLines {
  private readonly buffer: ScanBuffer;

  constructor(
    limits: ScanLineLimits,
    private readonly clock: Clock,
  ) {
    this.buffer = new ScanBuffer(limits, "characters");
  }

  push(stroke: Keystroke): ScanLineEvent | undefined {
    const nowMs = this.clock.nowMs();
    let dropped: ScanLineEvent | undefined;
    const pausedMs = this.buffer.pauseBreaking(nowMs);
    if (pausedMs !== undefined) {
      dropped = { kind: "dropped", reason: `${this.buffer.length} characters then a pause of ${pausedMs} ms` };
      this.buffer.reset();
    }
    if (stroke.kind === "enter") return this.buffer.finish() ?? dropped;
    if (stroke.kind === "char") this.buffer.append(stroke.char, nowMs);
    return dropped;
  }
}
