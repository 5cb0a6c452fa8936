import { describe, expect, it } from "vitest";
import { VirtualClock } from "../../core/sources.ts";
import { Pn532Probe, type ProbedPn532 } from "../../firmware-bridge/nfc/pn532-probe.ts";
import type { FirmwareVersion } from "../../firmware-bridge/nfc/pn532.ts";
import { ServiceWatchdog } from "../../firmware-bridge/systemd/service-watchdog.ts";
import { SystemdNotifier, systemdEnvironment } from "../../firmware-bridge/systemd/systemd-notify.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";

/** The messages a notifier would send, each as `KEY=value` lines joined by " | ". */
function recordingNotifier(): { notifier: SystemdNotifier; sent: string[] } {
  const sent: string[] = [];
  const notifier = new SystemdNotifier(async (fields) => {
    sent.push([...fields].map(([key, value]) => `${key}=${value}`).join(" | "));
  });
  return { notifier, sent };
}

/** Lets the notifier's promise chain run (it sends one message at a time). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("the service watchdog (systemd's side of a Type=notify hub)", () => {
  it("says READY=1, then pings every interval only while every check passes, and shows what is wrong", async () => {
    const clock = new VirtualClock();
    const { notifier, sent } = recordingNotifier();
    let readerProblem: string | undefined;
    const watchdog = new ServiceWatchdog({ notifier, intervalMs: 15_000, checks: { reader: () => readerProblem, journal: () => undefined }, timers: clock });

    watchdog.ready("hub ready, online: idle");
    await settle();
    clock.advance(30_000);
    await settle();
    expect(sent).toEqual(["READY=1 | STATUS=hub ready, online: idle | WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1"]);

    readerProblem = "the NFC reader did not answer GetFirmwareVersion: E500 NfcTimeout";
    clock.advance(45_000);
    await settle();
    expect(sent.slice(3)).toEqual([`STATUS=unhealthy: reader: ${readerProblem}`]);

    readerProblem = undefined;
    watchdog.status("hub ready, online: approved 12.50 EUR (reader)");
    clock.advance(15_000);
    await settle();
    expect(sent.slice(4)).toEqual(["WATCHDOG=1 | STATUS=hub ready, online: approved 12.50 EUR (reader)"]);

    await watchdog.stop();
    expect(sent.at(-1)).toBe("STOPPING=1 | STATUS=stopping");
    expect(clock.pending).toBe(0);
  });

  it("without WatchdogSec= sends READY=1 and status lines only", async () => {
    const clock = new VirtualClock();
    const { notifier, sent } = recordingNotifier();
    const watchdog = new ServiceWatchdog({ notifier, intervalMs: undefined, checks: {}, timers: clock });
    watchdog.ready("glasses hub g1 running");
    clock.advance(60_000);
    await settle();
    expect(sent).toEqual(["READY=1 | STATUS=glasses hub g1 running"]);
    expect(clock.pending).toBe(0);
  });

  it("keeps one message in flight and merges what comes meanwhile (a later value replaces an earlier one)", async () => {
    const sent: string[] = [];
    let release: () => void = () => undefined;
    const notifier = new SystemdNotifier((fields) => {
      sent.push([...fields].map(([key, value]) => `${key}=${value}`).join(" | "));
      return new Promise((resolve) => (release = resolve));
    });
    notifier.notify({ READY: "1" });
    notifier.notify({ STATUS: "a\nb" });
    notifier.notify({ STATUS: "c", WATCHDOG: "1" });
    expect(sent).toEqual(["READY=1"]);
    release();
    await settle();
    expect(sent).toEqual(["READY=1", "STATUS=c | WATCHDOG=1"]);
    release();
    await notifier.settled();
  });

  it("reads NOTIFY_SOCKET and half of WATCHDOG_USEC, for this process only", () => {
    expect(systemdEnvironment({}, 42)).toBeUndefined();
    expect(systemdEnvironment({ NOTIFY_SOCKET: "/run/systemd/notify" }, 42)).toEqual({ socketPath: "/run/systemd/notify", watchdogIntervalMs: undefined });
    expect(systemdEnvironment({ NOTIFY_SOCKET: "@sd", WATCHDOG_USEC: "30000000", WATCHDOG_PID: "42" }, 42)?.watchdogIntervalMs).toBe(15_000);
    expect(systemdEnvironment({ NOTIFY_SOCKET: "@sd", WATCHDOG_USEC: "30000000", WATCHDOG_PID: "7" }, 42)?.watchdogIntervalMs).toBeUndefined();
    expect(systemdEnvironment({ NOTIFY_SOCKET: "@sd", WATCHDOG_USEC: "soon" }, 42)?.watchdogIntervalMs).toBeUndefined();
  });
});

/** A PN532 whose answers the test decides: a promise per probe. */
class FakePn532 implements ProbedPn532 {
  idle = true;
  answers: Array<"ok" | "silent"> = [];
  probes = 0;
  async getFirmwareVersion(): Promise<FirmwareVersion> {
    this.probes += 1;
    if (this.answers.shift() === "silent") throw new TapwireError("no ACK", ErrorCode.NfcTimeout);
    return { ic: 0x32, version: 1, revision: 6, support: 7 };
  }
}

describe("the PN532 health probe", () => {
  const options = (clock: VirtualClock) => ({ intervalMs: 5_000, timeoutMs: 1_000, silenceMsMax: 70_000, clock, timers: clock });

  it("asks an idle reader for its firmware version; a silent answer is a problem until it answers again", async () => {
    const clock = new VirtualClock();
    const pn532 = new FakePn532();
    const probe = new Pn532Probe(pn532, options(clock));
    probe.start();
    pn532.answers = ["ok", "silent", "ok"];

    clock.advance(5_000);
    await settle();
    expect(probe.problem()).toBeUndefined();
    clock.advance(5_000);
    await settle();
    expect(probe.problem()).toMatch(/E500/);
    clock.advance(5_000);
    await settle();
    expect(probe.problem()).toBeUndefined();
    expect(pn532.probes).toBe(3);
    probe.stop();
    expect(clock.pending).toBe(0);
  });

  it("never probes a busy reader (a sale waits for a card), but too long a silence is a problem", async () => {
    const clock = new VirtualClock();
    const pn532 = new FakePn532();
    pn532.idle = false;
    const probe = new Pn532Probe(pn532, options(clock));
    probe.start();
    clock.advance(65_000);
    await settle();
    expect(probe.problem()).toBeUndefined();
    clock.advance(10_000);
    expect(probe.problem()).toMatch(/not answered for 75000 ms/);
    expect(pn532.probes).toBe(0);
    probe.stop();
  });

  it("refuses an interval outside its range with ConfigInvalid", () => {
    const clock = new VirtualClock();
    expect(() => new Pn532Probe(new FakePn532(), { ...options(clock), intervalMs: 0 })).toThrowError(expect.objectContaining({ code: ErrorCode.ConfigInvalid }));
  });
});
