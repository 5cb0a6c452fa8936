import { errorCodeName } from "../../protocol/errors.ts";
import { formatMoney, type Money } from "../../protocol/money.ts";

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
  private readonly startedAtMs = Date.now();
  readonly outcomes: Outcome[] = [];

  constructor(private readonly write: (line: string) => void) {}

  heading(text: string): void {
    this.write(`\n== ${text}`);
  }

  step(text: string): void {
    const seconds = ((Date.now() - this.startedAtMs) / 1000).toFixed(2).padStart(6);
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
