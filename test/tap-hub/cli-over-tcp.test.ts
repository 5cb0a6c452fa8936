import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { runHubConsole, type RunningHub } from "../../cli/hub.ts";
import { VirtualPn532 } from "../../simulator/pn532/virtual-pn532.ts";
import { simulatedPanelPins } from "../../simulator/scenarios/tap/simulated-tap-hub.ts";
import { serveOverTcp } from "../../simulator/serial/serve-over-tcp.ts";
import { funded } from "./fixture.ts";
import { servedPanel, stackWithBundles, startServedHub, type Defer } from "./served-pieces.ts";

const root = join(import.meta.dirname, "..", "..");
const waitMs = 8_000;

let cleanups: Array<() => Promise<void> | void> = [];
const defer: Defer = (cleanup) => cleanups.push(cleanup);
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

/** Resolves with the first match of `pattern` in what `stream` prints; fails after timeoutMs. */
function waitForOutput(stream: NodeJS.ReadableStream, pattern: RegExp, timeoutMs = waitMs): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (chunk: Buffer | string) => {
      text += chunk.toString();
      const match = pattern.exec(text);
      if (!match) return;
      clearTimeout(timer);
      stream.off("data", onData);
      resolve(match);
    };
    const timer = setTimeout(() => {
      stream.off("data", onData);
      reject(new Error(`no ${pattern} within ${timeoutMs} ms; got: ${text}`));
    }, timeoutMs);
    stream.on("data", onData);
  });
}

/** A `tapwire sim serve DEVICE --port 0 …` process, stopped with "quit" after the test; its URL and stdin. */
async function simServe(args: string[], what: string): Promise<{ url: string; process: ChildProcess }> {
  const [device, ...rest] = args;
  const simulator: ChildProcess = spawn(join(root, "node_modules", ".bin", "tsx"), [join(root, "cli", "main.ts"), "sim", "serve", device!, "--port", "0", ...rest], {
    cwd: root,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => simulator.once("exit", (code) => resolve(code)));
  cleanups.push(async () => {
    simulator.stdin!.write("quit\n");
    await exited;
  });
  const [, url] = await waitForOutput(simulator.stdout!, new RegExp(`virtual ${what} on (tcp://127\\.0\\.0\\.1:\\d+)`));
  return { url: url!, process: simulator };
}

/** The hub's console (what `tapwire hub` reads and prints), over in-memory streams. */
function hubConsole(running: RunningHub): { input: PassThrough; output: PassThrough } {
  const input = new PassThrough();
  const output = new PassThrough();
  const stopConsole = new AbortController();
  const consoleDone = runHubConsole(running.hub, input, output, stopConsole.signal);
  cleanups.push(async () => {
    stopConsole.abort();
    await consoleDone;
  });
  return { input, output };
}

describe("the hub CLI over served simulators (tcp://)", () => {
  it("a `tapwire sim serve pn532` process and a served Firmata board drive a configured hub to an approved sale", async () => {
    const { stack, dir } = await stackWithBundles(defer, "tapwire-cli-hub-");
    const { url: nfcUrl } = await simServe(["pn532", "--phone", "hce", "--wallet-dir", join(dir, "wallet"), "--wallet-id", "w1"], "PN532");
    const { firmata, url: panelUrl } = await servedPanel(defer);
    const running = await startServedHub(defer, stack, dir, { nfcPath: nfcUrl, panelPath: panelUrl });
    const { input, output } = hubConsole(running);

    await waitForOutput(output, /hub ready, online: idle/);
    input.write("12.50 EUR reader\n");
    await waitForOutput(output, /approved 12\.50 EUR \(reader\)/);
    await firmata.board!.waitUntil(() => firmata.board!.ledOn(simulatedPanelPins.green), waitMs);
    input.write("7 XXX\n");
    await waitForOutput(output, /E109 UnknownCurrency/);

    expect(stack.node.service.paymentsOf("m1")).toMatchObject([{ mode: "reader", amountMinor: 1250, walletId: "w1" }]);
    expect(stack.node.service.ledger.balanceOf("wallet:w1")).toBe(funded - 1250);
    stack.node.service.ledger.checkInvariants();
  });

  it("a `tapwire sim serve hid` scanner configured as scanner.path: the wallet's scanned payment code pays a sale", async () => {
    const { stack, dir } = await stackWithBundles(defer, "tapwire-cli-hub-");
    const scanner = await simServe(["hid", "--wallet-dir", join(dir, "wallet"), "--wallet-id", "w1"], "QR scanner");
    const nfcServer = await serveOverTcp(new VirtualPn532(), 0);
    defer(() => nfcServer.close());
    const { url: panelUrl } = await servedPanel(defer);
    const running = await startServedHub(defer, stack, dir, { nfcPath: nfcServer.url, panelPath: panelUrl, scanner: { path: scanner.url } });
    const { input, output } = hubConsole(running);
    await waitForOutput(output, /hub ready, online: idle/);

    input.write("9.00 EUR reader\n");
    await waitForOutput(output, /waitingForTap 9\.00 EUR/);
    scanner.process.stdin!.write("code\n");
    await waitForOutput(output, /approved 9\.00 EUR \(reader\)/);

    expect(stack.node.service.paymentsOf("m1")).toMatchObject([{ mode: "reader", amountMinor: 900, walletId: "w1" }]);
    expect(stack.node.service.ledger.balanceOf("wallet:w1")).toBe(funded - 900);
    stack.node.service.ledger.checkInvariants();
  });
});
