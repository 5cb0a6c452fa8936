import { errorCodeName } from "../../protocol/errors.ts";
import { formatMoney, type Money } from "../../protocol/money.ts";
import { systemClock, type Clock } from "../../protocol/sources.ts";

/**
 * Prints what the demo does for a person to read: one line per step, with the time since the start, and a
 * tally of outcomes for the summary. Writes to an injected sink so tests can read it.
 */
export interface Outcome {
  scene: string;
  expected: string;
  got: string;
}

export class Narrator {
  private readonly startedAtMs: number;
  readonly outcomes: Outcome[] = [];

  constructor(
    private readonly write: (line: string) => void,
    /** Where "time since the start" is read: a simulation passes its virtual clock. */
    private readonly clock: Clock = systemClock,
  ) {
    this.startedAtMs = clock.nowMs();
  }

  heading(text: string): void {
    this.write(`\n== ${text}`);
  }

  step(text: string): void {
    const seconds = ((this.clock.nowMs() - this.startedAtMs) / 1000).toFixed(2).padStart(6);
    this.write(`[${seconds}s] ${text}`);
  }

  record(scene: string, expected: string, got: string): void {
    this.outcomes.push({ scene, expected, got });
    this.step(`${got === expected ? "ok  " : "FAIL"} ${scene}: ${got}${got === expected ? "" : ` (expected ${expected})`}`);
  }

  get failures(): Outcome[] {
    return this.outcomes.filter((outcome) => outcome.got !== outcome.expected);
  }
}

export function money(amountMinor: number, currency: string): string {
  return formatMoney({ amountMinor, currency } satisfies Money);
}

export function codeText(code: number | undefined): string {
  return code === undefined || code === 0 ? "" : ` [E${code} ${errorCodeName(code)}]`;
}
