import { describe, expect, it } from "vitest";
import { KeyboardReportDecoder, type Keystroke } from "../../firmware-bridge/hid/keyboard-report.ts";
import { ScanLines, scanLineLimitsDefault, type ScanLineEvent } from "../../firmware-bridge/hid/scan-lines.ts";
import { typeReports } from "../../simulator/hid/virtual-scanner.ts";

function decode(reports: Uint8Array[]): Keystroke[] {
  const decoder = new KeyboardReportDecoder();
  return reports.flatMap((report) => decoder.push(report));
}

function typed(strokes: Keystroke[]): string {
  return strokes.map((stroke) => (stroke.kind === "char" ? stroke.char : stroke.kind === "enter" ? "\n" : `<${stroke.usage}>`)).join("");
}

const printableAscii = Array.from({ length: 95 }, (_, index) => String.fromCharCode(0x20 + index)).join("");

describe("USB HID boot keyboard reports (a keyboard-wedge scanner)", () => {
  it("reads back every printable ASCII character the virtual scanner types, each once, then Enter", () => {
    expect(typed(decode(typeReports(printableAscii, { enter: true })))).toBe(`${printableAscii}\n`);
  });

  it("reads the Base45 alphabet of a payment code (QR alphanumeric mode)", () => {
    const base45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    expect(typed(decode(typeReports(`TW1:${base45}`, { enter: false })))).toBe(`TW1:${base45}`);
  });

  it("takes a key held across reports as one keystroke, and keypad digits and keypad Enter as digits and Enter", () => {
    const held = Uint8Array.of(0, 0, 0x04, 0, 0, 0, 0, 0);
    const keypad = [0x59, 0x62, 0x63, 0x58].flatMap((usage) => [Uint8Array.of(0, 0, usage, 0, 0, 0, 0, 0), new Uint8Array(8)]);
    expect(typed(decode([held, held, held, new Uint8Array(8), ...keypad]))).toBe("a10.\n");
  });

  it("ignores rollover reports and reports of the wrong size; an unmapped key is reported as such", () => {
    const rollover = Uint8Array.of(0, 0, 1, 1, 1, 1, 1, 1);
    const short = Uint8Array.of(0, 0, 0x04);
    const f1 = Uint8Array.of(0, 0, 0x3a, 0, 0, 0, 0, 0);
    expect(decode([rollover, short, f1])).toEqual([{ kind: "other", usage: 0x3a }]);
  });

  it("decodes two keys pressed in one report, shifted by either shift key", () => {
    const rightShift = Uint8Array.of(0x20, 0, 0x04, 0x05, 0, 0, 0, 0);
    expect(typed(decode([rightShift]))).toBe("AB");
  });
});

describe("scan lines: keystrokes to whole scans", () => {
  function lines(strokes: Array<[Keystroke, number]>, lineCharsMax = scanLineLimitsDefault.lineCharsMax): ScanLineEvent[] {
    let nowMs = 0;
    const assembler = new ScanLines({ ...scanLineLimitsDefault, lineCharsMax }, { nowMs: () => nowMs });
    const events: ScanLineEvent[] = [];
    for (const [stroke, atMs] of strokes) {
      nowMs = atMs;
      const event = assembler.push(stroke);
      if (event) events.push(event);
    }
    return events;
  }
  const char = (c: string): Keystroke => ({ kind: "char", char: c });
  const enter: Keystroke = { kind: "enter" };

  it("ends a scan at Enter; an Enter alone is nothing", () => {
    expect(lines([[char("a"), 0], [char("b"), 1], [enter, 2], [enter, 3]])).toEqual([{ kind: "line", text: "ab" }]);
  });

  it("drops a scan longer than the limit whole, never cut short", () => {
    const events = lines([[char("a"), 0], [char("b"), 1], [char("c"), 2], [enter, 3], [char("d"), 4], [enter, 5]], 2);
    expect(events).toEqual([{ kind: "dropped", reason: "a scan longer than 2 characters" }, { kind: "line", text: "d" }]);
  });

  it("starts over after a pause longer than the limit inside a scan (a broken-off read)", () => {
    const pauseMs = scanLineLimitsDefault.interCharMsMax + 1;
    const events = lines([[char("x"), 0], [char("o"), pauseMs], [char("k"), pauseMs + 1], [enter, pauseMs + 2]]);
    expect(events.map((event) => event.kind)).toEqual(["dropped", "line"]);
    expect(events[1]).toEqual({ kind: "line", text: "ok" });
  });
});
