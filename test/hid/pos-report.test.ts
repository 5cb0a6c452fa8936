import { describe, expect, it } from "vitest";
import { PosReportAssembler } from "../../firmware-bridge/hid/pos-report.ts";
import { scanLineLimitsDefault, type ScanLineEvent } from "../../firmware-bridge/hid/scan-lines.ts";
import { posReports } from "../../simulator/hid/virtual-scanner.ts";

function assemble(reports: Array<[Uint8Array, number]>, lineCharsMax = scanLineLimitsDefault.lineCharsMax): ScanLineEvent[] {
  let nowMs = 0;
  const assembler = new PosReportAssembler({ ...scanLineLimitsDefault, lineCharsMax }, { nowMs: () => nowMs });
  const events: ScanLineEvent[] = [];
  for (const [report, atMs] of reports) {
    nowMs = atMs;
    const event = assembler.push(report);
    if (event) events.push(event);
  }
  return events;
}

const at = (reports: Uint8Array[], startMs = 0): Array<[Uint8Array, number]> => reports.map((report, index) => [report, startMs + index]);

describe("HID POS scanned-data reports", () => {
  it("a short scan is one report; a long one continues over several and is joined whole", () => {
    const long = `TW1:${"A1%".repeat(100)}`;
    expect(posReports("TW1:SHORT")).toHaveLength(1);
    expect(posReports(long)).toHaveLength(Math.ceil(long.length / 56));
    expect(assemble([...at(posReports("TW1:SHORT")), ...at(posReports(long), 10)])).toEqual([
      { kind: "line", text: "TW1:SHORT" },
      { kind: "line", text: long },
    ]);
  });

  it("drops a report of another id or size, and one claiming more data bytes than it holds", () => {
    const other = posReports("x")[0]!.slice();
    other[0] = 0x03;
    const claims = posReports("x")[0]!.slice();
    claims[1] = 57;
    const events = assemble([[other, 0], [posReports("x")[0]!.subarray(0, 63), 1], [claims, 2], [posReports("ok")[0]!, 3]]);
    expect(events.map((event) => event.kind)).toEqual(["dropped", "dropped", "dropped", "line"]);
    expect(events.at(-1)).toEqual({ kind: "line", text: "ok" });
  });

  it("drops a scan longer than the limit, and one whose continuation never came (a read broken off)", () => {
    const tooLong = assemble(at(posReports("y".repeat(120))), 100);
    expect(tooLong).toEqual([{ kind: "dropped", reason: "a scan longer than 100 bytes" }]);
    const firstOfTwo = posReports("z".repeat(80))[0]!;
    const later = scanLineLimitsDefault.interCharMsMax + 10;
    expect(assemble([[firstOfTwo, 0], [posReports("next")[0]!, later]])).toEqual([{ kind: "line", text: "next" }]);
    expect(assemble([[firstOfTwo, 0], ...at(posReports("w".repeat(80)), later)])).toEqual([
      { kind: "dropped", reason: "a scan whose continuation did not come" },
      { kind: "line", text: "w".repeat(80) },
    ]);
  });
});
