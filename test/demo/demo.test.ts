import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import type { Outcome } from "../../simulator/demo/narrator.ts";
import { runDemo } from "../../simulator/demo/run-demo.ts";

/** What each scene must end in, status and decision code, written here apart from the demo's own expectations. */
const scenes: Array<[scene: RegExp, status: string, code: number]> = [
  [/^reader mode \(HCE phone\)$/, "approved", 0],
  [/^tag mode /, "approved", 0],
  [/^payment code: /, "approved", 0],
  [/^the same payment code scanned again/, "declined", ErrorCode.NonceReplayed],
  [/^reader mode, more than the wallet holds$/, "declined", ErrorCode.InsufficientFunds],
  [/^cancel button pressed /, "cancelled", ErrorCode.Cancelled],
  [/^glasses: "I'll take it" \+ voiceprint$/, "approved", 0],
  [/^glasses: "non, merci"$/, "cancelled", ErrorCode.Cancelled],
  [/^agent buys coffee beans within the mandate /, "approved", 0],
  [/^the same closed mandate sent again/, "declined", ErrorCode.MandateReplayed],
  [/^agent buys above the step-up threshold /, "step_up_required", ErrorCode.HeldForStepUp],
  [/^held payment after alice's approval /, "approved", 0],
  [/^agent order flagged ambiguous /, "human_review", ErrorCode.HeldForReview],
  [/^ambiguous order after the operator's decision /, "declined", ErrorCode.ReviewDeclined],
  [/^agent tries to spend past the budget /, "declined", ErrorCode.BudgetExceeded],
  [/^kenji taps his JPY wallet \(provider jp-pay\)$/, "approved", 0],
  [/^a tap while the provider is silent$/, "declined", ErrorCode.ProviderTimeout],
  [/^more than the traveller holds at the provider$/, "declined", ErrorCode.ProviderDeclined],
];

describe("npm start (the narrated demo)", () => {
  it("ends every scene in its expected status and code, with a balanced ledger, and exits 0", async () => {
    const lines: string[] = [];
    const outcomes: Outcome[] = [];
    const exitCode = await runDemo({ port: 0, keepDataDir: false, write: (line) => lines.push(line), onOutcome: (outcome) => outcomes.push(outcome) });
    const text = lines.join("\n");

    expect(outcomes.map((outcome) => outcome.got)).toEqual(scenes.map(([, status, code]) => ({ status, code })));
    scenes.forEach(([scene], index) => expect(outcomes[index]!.scene).toMatch(scene));
    for (const outcome of outcomes) expect(outcome.expected).toEqual(outcome.got);
    expect(exitCode).toBe(0);
    expect(text).not.toMatch(/FAIL/);
    expect(text).toMatch(/balances sum to zero per currency: \{"EUR":0,"JPY":0\}/);
    expect(text).toMatch(/evidence chain verified offline from the stored messages: ok/);
  });
});
