import { afterEach, describe, expect, it } from "vitest";
import { HidScanner } from "../../firmware-bridge/adapters/hid-scanner.ts";
import { openHidDevice } from "../../firmware-bridge/hid/open-hid-device.ts";
import { SeededRandom, VirtualClock } from "../../core/sources.ts";
import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import { VirtualScanner } from "../../simulator/hid/virtual-scanner.ts";
import { serveOverTcp, type TcpDeviceServer } from "../../simulator/serial/serve-over-tcp.ts";

async function rejectionCode(work: Promise<unknown>): Promise<number | undefined> {
  try {
    await work;
  } catch (error) {
    if (isTapwireError(error)) return error.code;
    throw error;
  }
  return undefined;
}

/** Lets promise callbacks (the supervisor's open) run; no real time passes. */
async function settle(): Promise<void> {
  for (let round = 0; round < 5; round++) await Promise.resolve();
}

let server: TcpDeviceServer | undefined;
let scanner: HidScanner | undefined;
afterEach(async () => {
  await scanner?.stop();
  await server?.close();
  scanner = undefined;
  server = undefined;
});

describe("the HID code scanner driver", () => {
  it("hands each whole scan to its listeners, and counts a scan dropped for length", async () => {
    const device = new VirtualScanner();
    const clock = new VirtualClock();
    scanner = new HidScanner({ open: async () => device.open(), clock, timers: clock, random: new SeededRandom(1), mode: "keyboard", limits: { lineCharsMax: 10 } });
    const scans: string[] = [];
    scanner.onScan((text) => scans.push(text));
    await scanner.start();

    device.scan("TW1:ABC");
    device.scan("x".repeat(11));
    device.scan("hello");

    expect(scans).toEqual(["TW1:ABC", "hello"]);
    expect(scanner.stats).toEqual({ scans: 2, dropped: 1 });
  });

  it("unplugged: present goes false at once, and the scanner is reopened with backoff when it is back", async () => {
    const device = new VirtualScanner();
    const clock = new VirtualClock();
    let plugged = true;
    scanner = new HidScanner({
      open: async () => {
        if (!plugged) throw new TapwireError("no such device", ErrorCode.HidOpenFailed);
        return device.open();
      },
      clock,
      timers: clock,
      random: new SeededRandom(2),
      mode: "keyboard",
    });
    const presence: boolean[] = [];
    scanner.onPresence((present) => presence.push(present));
    const scans: string[] = [];
    scanner.onScan((text) => scans.push(text));
    await scanner.start();

    plugged = false;
    device.unplug();
    expect(scanner.present).toBe(false);
    expect(device.scan("lost")).toBe(false);
    clock.advance(1_000);
    await settle();
    expect(scanner.present).toBe(false);
    plugged = true;
    // The backoff is at most reopenDelayMsMax (30 s) plus jitter; step through it a second at a time.
    for (let stepped = 0; stepped < 40 && !scanner.present; stepped++) {
      clock.advance(1_000);
      await settle();
    }

    expect(scanner.present).toBe(true);
    device.scan("back");
    expect(scans).toEqual(["back"]);
    expect(presence).toEqual([true, false, true]);
  });

  it("opens a scanner served over tcp:// and reassembles reports split across TCP chunks", async () => {
    const device = new VirtualScanner();
    server = await serveOverTcp(device);
    const clock = new VirtualClock();
    scanner = new HidScanner({ open: () => openHidDevice({ path: server!.url, openTimeoutMs: 2_000, mode: "keyboard" }), clock, timers: clock, random: new SeededRandom(3), mode: "keyboard" });
    const scanned = new Promise<string>((resolve) => scanner!.onScan(resolve));
    await scanner.start();
    await new Promise<void>((resolve) => {
      const poll = () => (device.connected ? resolve() : setImmediate(poll));
      poll();
    });

    device.scan("TW1:%%+-./:");

    expect(await scanned).toBe("TW1:%%+-./:");
  });

  it("in HID POS mode reads 64-byte reports over tcp://, a long code continued over several reports", async () => {
    const device = new VirtualScanner("pos");
    server = await serveOverTcp(device);
    const clock = new VirtualClock();
    scanner = new HidScanner({ open: () => openHidDevice({ path: server!.url, openTimeoutMs: 2_000, mode: "pos" }), clock, timers: clock, random: new SeededRandom(4), mode: "pos" });
    const scanned = new Promise<string>((resolve) => scanner!.onScan(resolve));
    await scanner.start();
    await new Promise<void>((resolve) => {
      const poll = () => (device.connected ? resolve() : setImmediate(poll));
      poll();
    });
    const code = `TW1:${"6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEXWK G2EP4J0BGJLFX3R3VHXK.PJ:2DPF6R:5SVBHABVCNN95SWMPHQUHQN%A0SOE+QQAB-HQ/HQ7IR.SQEEOK9SAI4- 7Y15KBPD34  QWSP0WRGTQFNPLIR.KQNA7N95U/3FJCTG90OARH9P1J4HGZJKBEG%123ZC$0BCI757TLXKIBTV5TN%2LXK-$CH4TSXKZ4DCHJRU.H7TN$A4V1"}`;

    device.scan(code);

    expect(await scanned).toBe(code);
  });

  it("a path of no known form is ConfigInvalid; a missing device is HidOpenFailed (real node-hid), as is a closed port", async () => {
    expect(await rejectionCode(openHidDevice({ path: "hidraw0", openTimeoutMs: 1_000, mode: "keyboard" }))).toBe(ErrorCode.ConfigInvalid);
    expect(await rejectionCode(openHidDevice({ path: "/dev/tapwire-no-such-scanner", openTimeoutMs: 1_000, mode: "keyboard" }))).toBe(ErrorCode.HidOpenFailed);
    expect(await rejectionCode(openHidDevice({ path: "usb:ffff:fffe", openTimeoutMs: 1_000, mode: "keyboard" }))).toBe(ErrorCode.HidOpenFailed);
    const closed = await serveOverTcp(new VirtualScanner());
    const url = closed.url;
    await closed.close();
    expect(await rejectionCode(openHidDevice({ path: url, openTimeoutMs: 1_000, mode: "keyboard" }))).toBe(ErrorCode.HidOpenFailed);
  });
});
