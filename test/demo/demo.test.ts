import { describe, expect, it } from "vitest";
import { runDemo } from "../../simulator/demo/run-demo.ts";

describe("npm start (the narrated demo)", () => {
  it("runs every scene to its expected end, with a balanced ledger, and exits 0", async () => {
    const lines: string[] = [];
    const exitCode = await runDemo({ port: 0, keepDataDir: false, write: (line) => lines.push(line) });
    const text = lines.join("\n");

    expect(exitCode).toBe(0);
    expect(text).not.toMatch(/FAIL/);
    expect(text).toMatch(/ok {3}reader mode \(HCE phone\): approved/);
    expect(text).toMatch(/ok {3}tag mode .*: approved/);
    expect(text).toMatch(/declined[^\n]*E302 InsufficientFunds/);
    expect(text).toMatch(/ok {3}cancel button pressed .*: cancelled/);
    expect(text).toMatch(/ok {3}glasses: "I'll take it" \+ voiceprint: approved/);
    expect(text).toMatch(/ok {3}glasses: "non, merci": cancelled/);
    expect(text).toMatch(/ok {3}agent buys coffee beans within the mandate .*: approved/);
    expect(text).toMatch(/ok {3}the same closed mandate sent again.*: declined/);
    expect(text).toMatch(/ok {3}held payment after alice's approval .*: approved/);
    expect(text).toMatch(/ok {3}agent tries to spend past the budget .*: declined/);
    expect(text).toMatch(/balances sum to zero per currency: \{"EUR":0\}/);
    expect(text).toMatch(/evidence chain verified offline from the stored messages: ok/);
  });
});
