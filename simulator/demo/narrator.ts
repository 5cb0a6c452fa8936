import { errorCodeName } from "../../protocol/errors.ts";
import { formatMoney, type Money } from "../../protocol/money.ts";
import { systemClock, type Clock } from "../../core/sources.ts";

/** How a scene ended: its status and the decision's code (0 for an approval). */
export interface SceneResult {
  status: string;
  code: number;
}

export interface Outcome {
  scene: string;
  expected: SceneResult;
  got: SceneResult;
}

/** A scene ends as expected only with the expected status and the expected code. */
export function asExpected(outcome: Outcome): boolean {
  return outcome.got.status === outcome.expected.status && outcome.got.code === outcome.expected.code;
}

/**
 * Prints what the demo does for a person to read: one line per step, with the time since the start, and a
 * tally of outcomes for the summary. Writes to an injected sink so tests can read it.
 */
export class Narrator {
  private readonly startedAtMs: number;
  readonly outcomes: Outcome[] = [];

  constructor(
    private readonly write: (line: string) => void,
    private readonly onOutcome: (outcome: Outcome) => void = () => undefined,
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

  record(scene: string, expected: SceneResult, got: SceneResult): void {
    const outcome = { scene, expected, got };
    this.outcomes.push(outcome);
    this.onOutcome(outcome);
    const ok = asExpected(outcome);
    const expectation = ok ? "" : ` (expected ${expected.status}${resultCode(expected.code)})`;
    this.step(`${ok ? "ok  " : "FAIL"} ${scene}: ${got.status}${resultCode(got.code)}${expectation}`);
  }

  get failures(): Outcome[] {
    return this.outcomes.filter((outcome) => !asExpected(outcome));
  }
}

export function money(amountMinor: number, currency: string): string {
  return formatMoney({ amountMinor, currency } satisfies Money);
}

export function codeText(code: number | undefined): string {
  return code === undefined || code === 0 ? "" : ` [E${code} ${errorCodeName(code)}]`;
}

function resultCode(code: number): string {
  return code === 0 ? " (code 0)" : codeText(code);
}
