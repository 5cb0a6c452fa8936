import type { Clock } from "../../core/sources.ts";
import type { ScanLineEvent, ScanLineLimits } from "./scan-lines.ts";

/**
 * HID POS scanned-data input reports, as USB barcode/QR scanners send them in "HID POS" mode (Honeywell's layout,
 * also Access-IS and others; USB HID Point of Sale usage page 0x8C): 64 bytes, report ID 2, the length of this
 * report's data, the AIM symbology identifier (`]` and two characters: `]Q1` for a QR code), up to 56 data bytes,
 * a further symbology byte, a reserved byte, and in the last byte bit 0 set when the scan continues in the next
 * report. Unlike keyboard mode the scanner is no keyboard: nothing reaches the console, and no key table is involved.
 */
export const posReportBytes = 64;
export const posReportId = 0x02;
export const posDataBytesMax = 56;
const dataOffset = 5;
const continuedOffset = 63;

/** Joins the reports of one scan (bit 0 of the last byte set on all but the last) into its text. */
export class PosReportAssembler {
  private parts: Buffer[] = [];
  private bytes = 0;
  private overflowed = false;
  private lastReportAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly limits: ScanLineLimits,
    private readonly clock: Clock,
  ) {}

  /** A whole scan, a scan dropped (malformed, too long, its rest never came), or nothing yet. */
  push(report: Uint8Array): ScanLineEvent | undefined {
    if (report.length !== posReportBytes || report[0] !== posReportId) return { kind: "dropped", reason: `a ${report.length}-byte report with id ${report[0]}` };
    const nowMs = this.clock.nowMs();
    const broken = this.parts.length > 0 && nowMs - this.lastReportAtMs > this.limits.interCharMsMax;
    this.lastReportAtMs = nowMs;
    if (broken) {
      this.reset();
      const rest = this.push(report);
      return rest?.kind === "line" ? rest : { kind: "dropped", reason: "a scan whose continuation did not come" };
    }
    const length = report[1]!;
    if (length > posDataBytesMax) {
      this.reset();
      return { kind: "dropped", reason: `a report claiming ${length} data bytes` };
    }
    if (this.bytes + length > this.limits.lineCharsMax) this.overflowed = true;
    else {
      this.parts.push(Buffer.from(report.subarray(dataOffset, dataOffset + length)));
      this.bytes += length;
    }
    if ((report[continuedOffset]! & 0x01) !== 0) return undefined;
    const overflowed = this.overflowed;
    const text = Buffer.concat(this.parts).toString("latin1");
    this.reset();
    if (overflowed) return { kind: "dropped", reason: `a scan longer than ${this.limits.lineCharsMax} bytes` };
    return text.length > 0 ? { kind: "line", text } : undefined;
  }

  private reset(): void {
    this.parts = [];
    this.bytes = 0;
    this.overflowed = false;
  }
}
