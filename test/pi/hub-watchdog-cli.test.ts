import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FirmataSerialDevice } from "../../simulator/scenarios/tap/firmata-serial-device.ts";
import { simulatedPanelPins } from "../../simulator/scenarios/tap/simulated-tap-hub.ts";
import { VirtualPn532 } from "../../simulator/pn532/virtual-pn532.ts";
import { serveOverTcp } from "../../simulator/serial/serve-over-tcp.ts";
import { TestStack } from "../e2e/stack.ts";
import { writeBundle } from "../tap-hub/bundles.ts";
import { fastLink, fastResend, fastTiming } from "../tap-hub/fixture.ts";
import { LineWatcher, repoRoot } from "./fixtures.ts";

const waitMs = 15_000;
/** WATCHDOG_USEC as systemd would set it for WatchdogSec=0.6s: the hub pings every 300 ms. */
const watchdogUsec = 600_000;
const pingIntervalMs = watchdogUsec / 2_000;

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

function stopChild(watcher: LineWatcher): () => Promise<void> {
  return async () => {
    if (watcher.child.exitCode !== null || watcher.child.signalCode !== null) return;
    watcher.child.kill("SIGKILL");
    await watcher.waitExit(waitMs);
  };
}

describe.runIf(existsSync("/usr/bin/systemd-notify"))("tapwire hub under systemd's watchdog (NOTIFY_SOCKET to a test listener)", () => {
  it("sends READY=1 and WATCHDOG=1 while the reader answers, stops pinging while it hangs, resumes, and says STOPPING=1", async () => {
    const stack = await TestStack.start();
    cleanups.push(() => stack.stop());
    const { hub } = await stack.enrolDefaults();
    const dir = mkdtempSync(join(tmpdir(), "tapwire-pi-watchdog-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeBundle(join(dir, "hub"), hub);
    const chip = new VirtualPn532();
    const nfc = await serveOverTcp(chip, 0);
    cleanups.push(() => nfc.close());
    const board = new FirmataSerialDevice();
    const panel = await serveOverTcp(board, 0);
    cleanups.push(() => panel.close());
    const config = {
      hubId: "h1",
      merchantId: "m1",
      broker: { url: stack.node.url, enrolmentDir: "hub" },
      nfc: { path: nfc.url, probeIntervalMs: 100, probeTimeoutMs: 200 },
      panel: { path: panel.url, pins: simulatedPanelPins, readyTimeoutMs: 5_000 },
      journalFile: "journal.sqlite",
      timings: { ...fastTiming, ...fastLink, ...fastResend },
    };
    writeFileSync(join(dir, "hub.json"), JSON.stringify(config));
    const socketPath = join(dir, "notify.sock");
    const systemd = new LineWatcher(spawn("python3", [join(import.meta.dirname, "notify-listener.py"), socketPath], { stdio: ["ignore", "pipe", "inherit"] }));
    cleanups.push(stopChild(systemd));
    await systemd.waitLine(/^listening$/, waitMs);

    const env = { ...process.env, NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: String(watchdogUsec) };
    const hubProcess = new LineWatcher(
      spawn(process.execPath, [join(repoRoot, "bin", "tapwire.mjs"), "hub", "--config", join(dir, "hub.json"), "--console", "none"], { env, stdio: ["ignore", "pipe", "inherit"] }),
    );
    cleanups.push(stopChild(hubProcess));

    const ready = await systemd.waitLine(/^READY=1 \| STATUS=hub /, waitMs);
    await systemd.waitLine(/^WATCHDOG=1/, waitMs, ready + 1);
    await systemd.waitLine(/STATUS=hub ready, online: idle/, waitMs);
    const healthyPings = systemd.lines.filter((line) => line.startsWith("WATCHDOG=1")).length;

    chip.setFaults({ silentCommands: 1_000_000 });
    const unhealthy = await systemd.waitLine(/^STATUS=unhealthy: reader: the NFC reader did not answer GetFirmwareVersion: E500 NfcTimeout$/, waitMs);
    // An observation window of real time: several ping intervals must pass without a ping from the hung hub.
    await expect(systemd.waitLine(/^WATCHDOG=1/, 5 * pingIntervalMs, unhealthy + 1)).rejects.toThrow(/no a line matching/);

    chip.setFaults({ silentCommands: 0 });
    const recovered = await systemd.waitLine(/^WATCHDOG=1 \| STATUS=hub ready, online: idle/, waitMs, unhealthy + 1);
    hubProcess.child.kill("SIGTERM");
    expect(await hubProcess.waitExit(waitMs)).toBe(0);
    await systemd.waitLine(/^STOPPING=1 \| STATUS=stopping$/, waitMs, recovered + 1);

    expect(healthyPings).toBeGreaterThanOrEqual(1);
    expect(systemd.lines.slice(unhealthy + 1, recovered).filter((line) => line.startsWith("WATCHDOG=1"))).toEqual([]);
  });
});
