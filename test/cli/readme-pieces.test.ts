import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { withAdmin } from "../../cli/admin.ts";
import { CliProcess } from "../support/cli-process.ts";
import { runCli } from "../support/cli.ts";

/**
 * Follows README.md's "Running the pieces" literally: its shell block is the script. `# terminal N` switches
 * terminal, `tapwire …` runs a command there (one that "keeps running" stays up), `> text` is typed into that
 * terminal's running command, and a trailing `prints "X"` (or `terminal N prints "X"`) is what must appear next.
 * Only the ports change: each one the README names is swapped for a free loopback port.
 */

const repoDir = join(import.meta.dirname, "..", "..");
/** Bounds for processes that load TypeScript through tsx and talk mTLS: generous, as the machine may be busy. */
const stepMsMax = 30_000;
const stopMsMax = 15_000;

interface Expectation {
  terminal: number;
  text: string;
}

type Step =
  | { kind: "run"; terminal: number; line: string; args: string[]; keepsRunning: boolean; expect: Expectation | undefined }
  | { kind: "type"; terminal: number; line: string; text: string; expect: Expectation | undefined };

function piecesBlock(readme: string): string {
  const section = readme.split(/^## /m).find((part) => part.startsWith("Running the pieces"));
  const block = section?.match(/```sh\n([\s\S]*?)```/)?.[1];
  if (block === undefined) throw new Error("README.md has no ```sh block under \"## Running the pieces\"");
  return block;
}

function parseSteps(block: string): Step[] {
  const steps: Step[] = [];
  let terminal = 0;
  for (const raw of block.split("\n")) {
    const heading = raw.match(/^# terminal (\d+)/);
    if (heading) terminal = Number(heading[1]);
    if (raw.trim() === "" || raw.startsWith("#")) continue;
    const [code, comment = ""] = raw.split(/\s+#\s+/, 2) as [string, string?];
    const printed = comment.match(/(?:terminal (\d+) )?prints "([^"]+)"/);
    const expect = printed ? { terminal: printed[1] === undefined ? terminal : Number(printed[1]), text: printed[2]! } : undefined;
    if (code.startsWith("> ")) steps.push({ kind: "type", terminal, line: raw, text: code.slice(2).trim(), expect });
    else if (code.startsWith("tapwire ")) {
      const args = code.trim().split(/\s+/).slice(1);
      steps.push({ kind: "run", terminal, line: raw, args, keepsRunning: comment.includes("keeps running"), expect });
    } else throw new Error(`README "Running the pieces": cannot follow ${JSON.stringify(raw)}`);
  }
  return steps;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Every port the README names (`--port N`, `127.0.0.1:N`), each mapped to a free one. */
async function portMap(steps: readonly Step[]): Promise<Map<string, string>> {
  const named = new Set<string>();
  for (const step of steps) {
    if (step.kind !== "run") continue;
    step.args.forEach((arg, index) => {
      if (step.args[index - 1] === "--port") named.add(arg);
      for (const [, port] of arg.matchAll(/127\.0\.0\.1:(\d+)/g)) named.add(port!);
    });
  }
  const ports = new Map<string, string>();
  for (const port of named) ports.set(port, String(await freePort()));
  return ports;
}

function withPorts(args: readonly string[], ports: ReadonlyMap<string, string>): string[] {
  return args.map((arg, index) => (args[index - 1] === "--port" ? (ports.get(arg) ?? arg) : arg.replace(/127\.0\.0\.1:(\d+)/g, (_, port: string) => `127.0.0.1:${ports.get(port) ?? port}`)));
}

function escaped(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
}

const workDir = mkdtempSync(join(tmpdir(), "tapwire-readme-"));
const terminals = new Map<number, CliProcess>();
afterAll(() => {
  for (const cli of terminals.values()) cli.kill();
  rmSync(workDir, { recursive: true, force: true });
});

/** Runs one step; resolves with its wall time (until it exits, is ready, or its expected output appears). */
async function follow(step: Step, ports: ReadonlyMap<string, string>): Promise<number> {
  const startedMs = Date.now();
  const watched = step.expect && step.expect.terminal !== step.terminal ? terminals.get(step.expect.terminal) : undefined;
  const mark = watched?.outputMark;
  if (step.kind === "type") {
    const cli = terminals.get(step.terminal);
    if (!cli) throw new Error(`nothing runs in terminal ${step.terminal} to type ${JSON.stringify(step.text)} into`);
    const typedMark = cli.outputMark;
    cli.writeLine(step.text);
    if (step.expect) await terminals.get(step.expect.terminal)!.waitOutput(escaped(step.expect.text), stepMsMax, { after: step.expect.terminal === step.terminal ? typedMark : mark });
    return Date.now() - startedMs;
  }
  const args = withPorts(step.args, ports);
  if (step.keepsRunning) {
    const cli = CliProcess.spawn(args, { stdin: true, cwd: workDir });
    terminals.set(step.terminal, cli);
    if (step.expect) await cli.waitOutput(escaped(step.expect.text), stepMsMax);
    return Date.now() - startedMs;
  }
  const result = await runCli(args, { cwd: workDir, timeoutMs: stepMsMax });
  expect(result, step.line).toMatchObject({ code: 0, stderr: "" });
  if (step.expect && !watched) expect(result.stdout, step.line).toContain(step.expect.text);
  if (step.expect && watched) await watched.waitOutput(escaped(step.expect.text), stepMsMax, { after: mark });
  return Date.now() - startedMs;
}

describe("README: Running the pieces", () => {
  const steps = parseSteps(piecesBlock(readFileSync(join(repoDir, "README.md"), "utf8")));

  it("gets a reader payment, a tag payment and a review decision through, exactly as written", async () => {
    const ports = await portMap(steps);
    const timings: Array<{ step: string; ms: number }> = [];

    for (const step of steps) timings.push({ step: step.line.split(/\s+#\s+/)[0]!, ms: await follow(step, ports) });
    const books = await withAdmin(join(workDir, ".tapwire"), (service) => ({
      moved: service.ledger.transfers({ limit: 100 }).filter((transfer) => transfer.kind !== "funding").map((t) => t.amountMinor),
      reviews: service.listReviews().map((c) => [c.kind, c.status]),
    }));
    const stopped = [...terminals.values()].map(async (cli) => {
      cli.signal("SIGTERM");
      return cli.waitExit(stopMsMax);
    });

    expect(steps.filter((step) => step.kind === "run" && step.keepsRunning)).toHaveLength(4);
    expect(books.moved.sort((a, b) => a - b)).toEqual([999, 1_250, 4_500]);
    expect(books.reviews).toEqual([["human_review", "approved"]]);
    expect(await Promise.all(stopped)).toEqual([...terminals.keys()].map(() => ({ code: 0, signal: null })));
    const firstPaymentAt = timings.findIndex((t) => t.step.startsWith("> 12.50 EUR reader"));
    const toFirstPaymentMs = timings.slice(0, firstPaymentAt + 1).reduce((sum, t) => sum + t.ms, 0);
    console.info(
      [`README pieces: ${toFirstPaymentMs} ms of commands to the first payment, ${timings.reduce((sum, t) => sum + t.ms, 0)} ms in all`, ...timings.map((t) => `${String(t.ms).padStart(6)} ms  ${t.step}`)].join("\n"),
    );
  }, 300_000);
});
