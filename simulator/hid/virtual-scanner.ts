import { EventEmitter } from "node:events";
import { assert } from "../../core/assert.ts";
import type { HidDeviceLike } from "../../firmware-bridge/hid/open-hid-device.ts";
import type { SerialDevice } from "../serial/serial-device.ts";

/*
 * The typing side of a keyboard-wedge scanner, written from the HID Usage Tables (page 0x07) independently of the
 * driver's decoder, so a table mistake on either side shows as a test failure instead of cancelling out.
 */
const shiftBit = 0x02;
const enterUsage = 0x28;
const spaceUsage = 0x2c;
const punctuationUsages = [0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38];
const punctuationPlain = "-=[]\\;'`,./";
const punctuationShifted = "_+{}|:\"~<>?";
const digitsShifted = "!@#$%^&*()";

/** The usage and shift that type `char` on a US keyboard. */
function keyFor(char: string): { usage: number; shift: boolean } {
  const code = char.charCodeAt(0);
  if (code >= 0x61 && code <= 0x7a) return { usage: 0x04 + code - 0x61, shift: false };
  if (code >= 0x41 && code <= 0x5a) return { usage: 0x04 + code - 0x41, shift: true };
  // 1..9 are 0x1e..0x26 and 0 comes after them, at 0x27.
  if (code >= 0x31 && code <= 0x39) return { usage: 0x1e + code - 0x31, shift: false };
  if (char === "0") return { usage: 0x27, shift: false };
  if (char === " ") return { usage: spaceUsage, shift: false };
  const shiftedDigit = digitsShifted.indexOf(char);
  if (shiftedDigit >= 0) return { usage: 0x1e + shiftedDigit, shift: true };
  const plain = punctuationPlain.indexOf(char);
  if (plain >= 0) return { usage: punctuationUsages[plain]!, shift: false };
  const shifted = punctuationShifted.indexOf(char);
  assert(shifted >= 0, `a US keyboard has no key for ${JSON.stringify(char)}`);
  return { usage: punctuationUsages[shifted]!, shift: true };
}

function report(modifiers: number, usage: number): Uint8Array {
  const bytes = new Uint8Array(8);
  bytes[0] = modifiers;
  bytes[2] = usage;
  return bytes;
}

/** The reports a scanner sends to type `text`: each key pressed (with shift when needed) then released. */
export function typeReports(text: string, options: { enter: boolean }): Uint8Array[] {
  const reports: Uint8Array[] = [];
  const released = new Uint8Array(8);
  for (const char of text) {
    const { usage, shift } = keyFor(char);
    reports.push(report(shift ? shiftBit : 0, usage), released);
  }
  if (options.enter) reports.push(report(0, enterUsage), released);
  return reports;
}

/**
 * The HID POS reports of one scan (Honeywell's scanned-data layout): 64 bytes each, report ID 2, the byte count,
 * `]Q1` (AIM: QR code), up to 56 bytes of the scan, and bit 0 of byte 63 set while more reports follow.
 */
export function posReports(text: string): Uint8Array[] {
  const data = Buffer.from(text, "latin1");
  const reports: Uint8Array[] = [];
  const chunkBytes = 56;
  for (let offset = 0; offset === 0 || offset < data.length; offset += chunkBytes) {
    const chunk = data.subarray(offset, offset + chunkBytes);
    const report = new Uint8Array(64);
    report[0] = 0x02;
    report[1] = chunk.length;
    report.set(Buffer.from("]Q1", "latin1"), 2);
    report.set(chunk, 5);
    report[63] = offset + chunkBytes < data.length ? 0x01 : 0x00;
    reports.push(report);
  }
  return reports;
}

/**
 * A USB QR scanner in keyboard mode (the default) or HID POS mode: scan() types a code into whichever host has it open, in-process through
 * node-hid's surface (open()) or over TCP as a served device (connect(), for serveOverTcp). unplug() is the cable
 * pulled: the open handle errors as node-hid's does.
 */
export class VirtualScanner implements SerialDevice {
  constructor(readonly mode: "keyboard" | "pos" = "keyboard") {}

  private sink: ((bytes: Uint8Array) => void) | undefined;
  private handle: VirtualHidHandle | undefined;

  /** A host's handle on the scanner, as node-hid's HIDAsync.open gives one. */
  open(): HidDeviceLike {
    assert(this.sink === undefined, "the virtual scanner is already open");
    const handle = new VirtualHidHandle(() => {
      if (this.handle === handle) this.disconnect();
    });
    this.handle = handle;
    this.sink = (bytes) => handle.emit("data", Buffer.from(bytes));
    return handle;
  }

  connect(toHost: (bytes: Uint8Array) => void): void {
    this.sink = toHost;
  }

  receive(): void {
    // A keyboard-class scanner takes no output reports that matter here (LED state); ignored, as a scanner does.
  }

  /** The host closed the link. */
  disconnect(): void {
    this.sink = undefined;
    this.handle = undefined;
  }

  get connected(): boolean {
    return this.sink !== undefined;
  }

  /**
   * Sends a scan of `text`. A broken-off scan (`whole: false`) is keyboard mode's text without Enter, HID POS's
   * reports without the last. False when no host has the scanner open.
   */
  scan(text: string, options: { whole?: boolean } = {}): boolean {
    const sink = this.sink;
    if (!sink) return false;
    const whole = options.whole ?? true;
    const reports = this.mode === "pos" ? posReports(text) : typeReports(text, { enter: whole });
    for (const bytes of this.mode === "pos" && !whole ? reports.slice(0, -1) : reports) sink(bytes);
    return true;
  }

  /** The cable pulled: the host's handle errors as node-hid's does. */
  unplug(): void {
    const handle = this.handle;
    this.disconnect();
    handle?.emit("error", new Error("virtual scanner unplugged"));
  }
}

class VirtualHidHandle extends EventEmitter implements HidDeviceLike {
  constructor(private readonly onClose: () => void) {
    super();
  }

  async close(): Promise<void> {
    this.onClose();
  }
}
