import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { isTapwireError } from "../../protocol/errors.ts";
import { problemsOf } from "../../simulator/scenario-files/load-scenario.ts";

/** A small valid scenario: one approved reader sale. Tests change one part of it. */
export const approvedSale = `
name: one approved sale
seed: 7
timeoutMs: 60s
world:
  merchants:
    - { id: m1, currency: EUR }
  hubs:
    - { id: h1, merchant: m1 }
  wallets:
    - { id: w1, funds: "50.00 EUR", perPaymentMax: "20.00 EUR" }
steps:
  - { at: 1s, id: s1, sale: { hub: h1, amount: "4.50 EUR", mode: reader } }
  - { at: 2s, tap: { hub: h1, wallet: w1 } }
  - { at: 5s, remove: { hub: h1 } }
expect:
  - { within: 5s, sale: { ref: s1, status: approved, code: 0 } }
  - { within: 30s, balances: { "wallet:w1": "45.50 EUR" } }
`;

/** A temp folder with scenario files written into it; `cleanup` removes it. */
export function scenarioDir(files: Record<string, string>): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "tapwire-scenarios-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** What a command writes, as lines. */
export function collect(): { output: Writable; lines: () => string[] } {
  let text = "";
  const output = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return { output, lines: () => text.trimEnd().split("\n") };
}

/** The `path` parts of a bad scenario's `path: message` problems (what tests compare; messages are for people). */
export function problemPaths(work: () => unknown): string[] {
  try {
    work();
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return problemsOf(error).map((problem) => problem.slice(0, problem.indexOf(": ")));
  }
  throw new Error("expected the scenario to be refused");
}
