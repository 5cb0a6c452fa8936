import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { logger } from "../../core/log.ts";
import { assertInRanges } from "../../core/ranges.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { connectTcp } from "../tcp-device-link.ts";
import { bootReportBytes } from "./keyboard-report.ts";
import { posReportBytes } from "./pos-report.ts";

const log = logger("tapwire:hid");

/**
 * The surface of node-hid's HIDAsync the scanner uses: input reports as "data", "error" when the device goes
 * (node-hid's read fails once it is unplugged), close. A virtual scanner implements the same surface.
 */
export interface HidDeviceLike {
  on(event: "data", listener: (report: Buffer) => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  close(): Promise<void>;
}

/** Where the payment-code scanner is and how it reports. */
export interface HidDeviceConfig {
  /**
   * `/dev/hidraw0` (or `/dev/tapwire-scanner`, the udev link), `usb:VVVV:PPPP` (hex vendor and product id: the
   * first such device), or `tcp://host:port` for a scanner served over TCP (`tapwire sim serve hid`).
   */
  path: string;
  openTimeoutMs: number;
  /** How the scanner reports (its report size over tcp://): keyboard mode (8-byte boot reports) or HID POS (64). */
  mode: ScannerMode;
}

export const scannerModes = ["keyboard", "pos"] as const;
/** keyboard (the scanners' default) or pos (HID POS). */
export type ScannerMode = (typeof scannerModes)[number];
const reportBytesOf: Record<ScannerMode, number> = { keyboard: bootReportBytes, pos: posReportBytes };

const usbIdPattern = /^usb:([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$/;

/** Opens the scanner; HidOpenFailed (or ConfigInvalid for a path of no known form) when it cannot. */
export async function openHidDevice(config: HidDeviceConfig): Promise<HidDeviceLike> {
  assertInRanges(config, { openTimeoutMs: [1, 60_000, "milliseconds"] }, "scanner configuration", "scanner.");
  if (config.path.startsWith("tcp://")) {
    const socket = await connectTcp(config.path, "scanner.path", config.openTimeoutMs, () => openFailed(config.path, `no answer within ${config.openTimeoutMs} ms`)).catch(
      (error: unknown) => {
        throw error instanceof TapwireError ? error : openFailed(config.path, (error as Error).message, error);
      },
    );
    return new TcpHidDevice(socket, reportBytesOf[config.mode]);
  }
  const usb = usbIdPattern.exec(config.path);
  if (!usb && !config.path.startsWith("/")) {
    throw new TapwireError(`scanner.path ${config.path} is none of /dev/hidrawN, usb:VVVV:PPPP, tcp://host:port`, ErrorCode.ConfigInvalid);
  }
  try {
    // Loaded on first use, so a hub without a scanner (and every simulation) never loads the native module.
    const { HIDAsync } = await import("node-hid");
    return usb ? await HIDAsync.open(parseInt(usb[1]!, 16), parseInt(usb[2]!, 16)) : await HIDAsync.open(config.path);
  } catch (error) {
    // Also a missing libusb-1.0 / libudev (the native module's dlopen) lands here, named in the message.
    throw openFailed(config.path, (error as Error).message, error);
  }
}

function openFailed(path: string, why: string, cause?: unknown): TapwireError {
  return new TapwireError(`cannot open scanner ${path}: ${why}`, ErrorCode.HidOpenFailed, { path }, cause === undefined ? undefined : { cause });
}

/** Input reports over a TCP socket, back to back (all of one size), with node-hid's surface. */
class TcpHidDevice extends EventEmitter implements HidDeviceLike {
  private pending = Buffer.alloc(0);

  constructor(
    private readonly socket: Socket,
    private readonly reportBytes: number,
  ) {
    super();
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", (error) => log.warn({ code: ErrorCode.HidGone, err: error.message }, "scanner link over tcp failed"));
    // node-hid says "error" when the device goes; the served scanner going is the same to the driver.
    socket.on("close", () => this.emit("error", new Error("scanner link closed")));
  }

  close(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.socket.once("close", () => resolve());
      this.socket.destroy();
    });
  }

  private receive(chunk: Buffer): void {
    // At most one report's bytes wait here between chunks.
    let bytes = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    while (bytes.length >= this.reportBytes) {
      this.emit("data", bytes.subarray(0, this.reportBytes));
      bytes = bytes.subarray(this.reportBytes);
    }
    this.pending = Buffer.from(bytes);
  }
}
