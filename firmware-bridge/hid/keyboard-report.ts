/**
 * USB HID boot-protocol keyboard input reports (HID 1.11 Appendix B.1), as a keyboard-wedge barcode/QR scanner
 * sends them: 8 bytes, byte 0 the modifier bits, byte 1 reserved, bytes 2–7 the usage IDs (HID Usage Tables,
 * Keyboard/Keypad page 0x07) of the keys held down. A scanner presses each character's key and releases it, so
 * each report that adds a usage is one keystroke. Read with the US layout, the one scanners default to.
 */
export const bootReportBytes = 8;

const leftShift = 0x02;
const rightShift = 0x20;
/** Every slot 0x01 (ErrorRollOver): more keys down than the report holds; the report says nothing else. */
const errorRollOver = 0x01;

export const usageEnter = 0x28;
export const usageKeypadEnter = 0x58;

/** Usage → [unshifted, shifted] on a US keyboard, for the printable keys a scanner types. */
const printable = new Map<number, readonly [string, string]>();
for (let index = 0; index < 26; index++) {
  const letter = String.fromCharCode(0x61 + index);
  printable.set(0x04 + index, [letter, letter.toUpperCase()]);
}
const digitRow = "1234567890";
const digitRowShifted = "!@#$%^&*()";
for (let index = 0; index < 10; index++) printable.set(0x1e + index, [digitRow[index]!, digitRowShifted[index]!]);
const punctuation: Array<[number, string, string]> = [
  [0x2c, " ", " "],
  [0x2d, "-", "_"],
  [0x2e, "=", "+"],
  [0x2f, "[", "{"],
  [0x30, "]", "}"],
  [0x31, "\\", "|"],
  [0x33, ";", ":"],
  [0x34, "'", '"'],
  [0x35, "`", "~"],
  [0x36, ",", "<"],
  [0x37, ".", ">"],
  [0x38, "/", "?"],
  // Keypad: a scanner set to "keypad digits" (or Alt-code mode's digits) types these; shift does not change them.
  [0x54, "/", "/"],
  [0x55, "*", "*"],
  [0x56, "-", "-"],
  [0x57, "+", "+"],
  [0x62, "0", "0"],
  [0x63, ".", "."],
];
for (const [usage, plain, shifted] of punctuation) printable.set(usage, [plain, shifted]);
for (let index = 0; index < 9; index++) printable.set(0x59 + index, [String(index + 1), String(index + 1)]);

export type Keystroke = { kind: "char"; char: string } | { kind: "enter" } | { kind: "other"; usage: number };

/** Turns a stream of boot keyboard reports into keystrokes: each usage that was not down in the report before. */
export class KeyboardReportDecoder {
  private held = new Set<number>();

  /** Keystrokes in `report`; a report of the wrong size or a rollover report gives none. */
  push(report: Uint8Array): Keystroke[] {
    if (report.length !== bootReportBytes) return [];
    const usages = [...report.subarray(2)].filter((usage) => usage !== 0);
    if (usages.length > 0 && usages.every((usage) => usage === errorRollOver)) return [];
    const shifted = (report[0]! & (leftShift | rightShift)) !== 0;
    const strokes: Keystroke[] = [];
    for (const usage of usages) {
      if (this.held.has(usage)) continue;
      strokes.push(keystroke(usage, shifted));
    }
    this.held = new Set(usages);
    return strokes;
  }
}

function keystroke(usage: number, shifted: boolean): Keystroke {
  if (usage === usageEnter || usage === usageKeypadEnter) return { kind: "enter" };
  const chars = printable.get(usage);
  return chars ? { kind: "char", char: chars[shifted ? 1 : 0] } : { kind: "other", usage };
}
