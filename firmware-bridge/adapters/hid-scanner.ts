import type { CodeScannerPort } from "../../device/ports.ts";
import { logger } from "../../core/log.ts";
import type { Clock, Random, Timers } from "../../core/sources.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { DeviceSupervisor, SupervisedDevice, reopenDelaysDefault, type OpenedDevice } from "./device-supervisor.ts";
import { KeyboardReportDecoder } from "../hid/keyboard-report.ts";
import type { HidDeviceLike, ScannerMode } from "../hid/open-hid-device.ts";
import { PosReportAssembler } from "../hid/pos-report.ts";
import { ScanLines, scanLineLimitsDefault, type ScanLineEvent, type ScanLineLimits } from "../hid/scan-lines.ts";

const log = logger("tapwire:hid");

export interface HidScannerOptions {
  /** Opens the scanner from scratch (node-hid, tcp://, a virtual device); again after it is lost. */
  open: () => Promise<HidDeviceLike>;
  /** Keyboard mode (the scanners' default) or HID POS. */
  mode: ScannerMode;
  clock: Clock;
  timers: Timers;
  random: Random;
  limits?: Partial<ScanLineLimits>;
  reopenDelayMsMin?: number;
  reopenDelayMsMax?: number;
}

interface OpenedScanner extends OpenedDevice {
  device: HidDeviceLike;
}

/** One scanner connection's report decoding, fresh for each (re)open: input report → scans and drops. */
function scanDecoder(mode: ScannerMode, limits: ScanLineLimits, clock: Clock): (report: Uint8Array) => ScanLineEvent[] {
  if (mode === "pos") {
    const assembler = new PosReportAssembler(limits, clock);
    return (report) => {
      const event = assembler.push(report);
      return event ? [event] : [];
    };
  }
  const keyboard = new KeyboardReportDecoder();
  const lines = new ScanLines(limits, clock);
  return (report) => keyboard.push(report).flatMap((stroke) => lines.push(stroke) ?? []);
}

/**
 * A USB barcode/QR scanner (keyboard mode or HID POS) read directly as a HID device (no terminal focus, no keyboard layout of
 * the OS in the way): boot keyboard reports → keystrokes → one line per Enter, handed to the hub as scans. Kept
 * open by a DeviceSupervisor: unplugged, it is reopened with backoff while the hub goes on taking taps.
 */
export class HidScanner extends SupervisedDevice<OpenedScanner> implements CodeScannerPort {
  protected readonly supervisor: DeviceSupervisor<OpenedScanner>;
  private readonly listeners = new Set<(text: string) => void>();
  private readonly limits: ScanLineLimits;
  /** What the scanner delivered since start: whole scans and lines dropped (too long, broken off). */
  readonly stats = { scans: 0, dropped: 0 };

  constructor(private readonly options: HidScannerOptions) {
    super();
    this.limits = { ...scanLineLimitsDefault, ...options.limits };
    this.supervisor = new DeviceSupervisor({
      what: "code scanner",
      goneCode: ErrorCode.HidGone,
      log,
      open: () => this.openScanner(),
      timers: options.timers,
      random: options.random,
      reopenDelayMsMin: options.reopenDelayMsMin ?? reopenDelaysDefault.reopenDelayMsMin,
      reopenDelayMsMax: options.reopenDelayMsMax ?? reopenDelaysDefault.reopenDelayMsMax,
    });
  }

  onScan(listener: (text: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async openScanner(): Promise<OpenedScanner> {
    const device = await this.options.open();
    const decode = scanDecoder(this.options.mode, this.limits, this.options.clock);
    const goneListeners: Array<() => void> = [];
    device.on("data", (report) => {
      for (const event of decode(report)) {
        if (event.kind === "line") this.deliver(event.text);
        else {
          this.stats.dropped += 1;
          log.warn({ code: ErrorCode.ScanInvalid, reason: event.reason }, "scan dropped");
        }
      }
    });
    device.on("error", (error) => {
      log.warn({ code: ErrorCode.HidGone, err: error.message }, "code scanner read failed");
      for (const listener of goneListeners.splice(0)) listener();
    });
    return { device, onGone: (listener) => goneListeners.push(listener), close: () => device.close() };
  }

  private deliver(text: string): void {
    this.stats.scans += 1;
    log.info({ chars: text.length }, "scan");
    for (const listener of [...this.listeners]) listener(text);
  }
}
