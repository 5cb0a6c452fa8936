import type { Clock } from "../../core/sources.ts";
import { ScanBuffer, type ScanLineEvent, type ScanLineLimits } from "./scan-lines.ts";

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
  private readonly buffer: ScanBuffer;

  constructor(
    limits: ScanLineLimits,
    private readonly clock: Clock,
  ) {
    this.buffer = new ScanBuffer(limits, "bytes");
  }

  /** A whole scan, a scan dropped (malformed, too long, its rest never came), or nothing yet. */
  push(report: Uint8Array): ScanLineEvent | undefined {
    if (report.length !== posReportBytes || report[0] !== posReportId) return { kind: "dropped", reason: `a ${report.length}-byte report with id ${report[0]}` };
    if (this.buffer.pauseBreaking(this.clock.nowMs()) !== undefined) {
      this.buffer.reset();
      const rest = this.push(report);
      return rest?.kind === "line" ? rest : { kind: "dropped", reason: "a scan whose continuation did not come" };
    }
    const length = report[1]!;
    if (length > posDataBytesMax) {
      this.buffer.reset();
      return { kind: "dropped", reason: `a report claiming ${length} data bytes` };
    }
    // latin1: one character per byte, so the buffer's length counts bytes.
    this.buffer.append(Buffer.from(report.subarray(dataOffset, dataOffset + length)).toString("latin1"), this.clock.nowMs());
    if ((report[continuedOffset]! & 0x01) !== 0) return undefined;
    return this.buffer.finish();
  }
}
