import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { installStopSignals, stopSignal, untilStopSignal } from "../../cli/signals.ts";
import { CliProcess } from "../support/cli-process.ts";

/** Bounds for a child process that loads TypeScript through tsx: generous, as the machine may be busy. */
const readyMsMax = 20_000;
const exitMsMax = 10_000;

const started: Array<{ cli: CliProcess; dataDir: string }> = [];
afterEach(() => {
  for (const { cli, dataDir } of started.splice(0)) {
    cli.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

/** Binding the port again succeeds only once nothing holds it. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function runningSettle(): Promise<{ cli: CliProcess; port: number; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), "tapwire-signals-"));
  const cli = CliProcess.spawn(["settle", "--data-dir", dataDir, "--port", "0"]);
  started.push({ cli, dataDir });
  const [, port] = await cli.waitOutput(/ready on mqtts:\/\/127\.0\.0\.1:(\d+)/, readyMsMax);
  return { cli, port: Number(port), dataDir };
}

describe("tapwire settle stops cleanly on a stop signal", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`${signal}: the process exits 0 by itself (not killed by the signal), its port free and its ledger closed`, async () => {
      const { cli, port, dataDir } = await runningSettle();
      expect(await accepts(port)).toBe(true);
      expect(existsSync(join(dataDir, "ledger.sqlite-wal"))).toBe(true);

      cli.signal(signal);
      const exit = await cli.waitExit(exitMsMax);

      expect(exit).toEqual({ code: 0, signal: null });
      expect(await accepts(port)).toBe(false);
      expect(await bindable(port)).toBe(true);
      // SQLite removes the write-ahead log when the last connection closes cleanly; a killed process leaves it.
      expect(existsSync(join(dataDir, "ledger.sqlite-wal"))).toBe(false);
    });
  }
});

describe("installStopSignals", () => {
  const exits: NodeJS.Signals[] = [];
  let uninstall: (() => void) | undefined;
  afterEach(() => {
    uninstall?.();
    uninstall = undefined;
    exits.length = 0;
  });

  it("with no command listening, the first signal exits at once", () => {
    uninstall = installStopSignals({ graceMs: 60_000, exit: (signal) => exits.push(signal) });

    process.emit("SIGTERM", "SIGTERM");

    expect(exits).toEqual(["SIGTERM"]);
  });

  it("the first signal asks every listener to stop; a second one exits", () => {
    uninstall = installStopSignals({ graceMs: 60_000, exit: (signal) => exits.push(signal) });
    const stopping = stopSignal();
    let stopRequested = false;
    void untilStopSignal().then(() => (stopRequested = true));

    process.emit("SIGINT", "SIGINT");
    const afterFirst = [...exits];
    process.emit("SIGINT", "SIGINT");

    expect(stopping.signal.aborted).toBe(true);
    expect(afterFirst).toEqual([]);
    expect(exits).toEqual(["SIGINT"]);
    return Promise.resolve().then(() => expect(stopRequested).toBe(true));
  });

  it("a listener that unsubscribed is not called, and removing the handling leaves no process listener", () => {
    const before = { int: process.listenerCount("SIGINT"), term: process.listenerCount("SIGTERM") };
    uninstall = installStopSignals({ graceMs: 60_000, exit: (signal) => exits.push(signal) });
    const stopping = stopSignal();
    stopping.dispose();

    process.emit("SIGTERM", "SIGTERM");
    uninstall();
    uninstall = undefined;

    expect(stopping.signal.aborted).toBe(false);
    expect(exits).toEqual(["SIGTERM"]);
    expect({ int: process.listenerCount("SIGINT"), term: process.listenerCount("SIGTERM") }).toEqual(before);
  });
});
