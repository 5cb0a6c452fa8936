import { describe, expect, it } from "vitest";
import { FirmataParser, sysexDataBytesMax } from "../../simulator/firmata/firmata-parser.ts";

// The board-side parser follows Firmata.cpp's processInput (firmata/arduino); protocol.md gives the layouts.
describe("FirmataParser", () => {
  it("decodes each host message of protocol.md's table", () => {
    const parser = new FirmataParser();

    const messages = parser.push(
      Uint8Array.from([0x92, 0x05, 0x01, 0xe5, 0x7f, 0x01, 0xc3, 0x02, 0xd1, 0x00, 0xf4, 0x0d, 0x01, 0xf5, 0x0d, 0x01, 0xf9, 0xff]),
    );

    expect(messages).toEqual([
      { kind: "digitalPort", port: 2, value: 0x85 },
      { kind: "analogWrite", pin: 5, value: 255 },
      // protocol.md: "disable(0) / enable(non-zero)".
      { kind: "reportAnalog", channel: 3, enabled: true },
      { kind: "reportDigital", port: 1, enabled: false },
      { kind: "setPinMode", pin: 13, mode: 1 },
      { kind: "setPinValue", pin: 13, value: 1 },
      { kind: "reportVersion" },
      { kind: "systemReset" },
    ]);
    expect(parser.droppedBytes).toBe(0);
  });

  it("resynchronises as the firmware does: stray data, unknown status, a message cut short, an oversized frame", () => {
    const parser = new FirmataParser();
    const oversized = [0xf0, 0x71, ...new Array<number>(sysexDataBytesMax + 5).fill(0x41), 0xf7];

    const messages = parser.push(
      Uint8Array.from([0x12, 0x34, 0xf4, 0x05, 0x91, 0x01, 0x00, ...oversized, 0xf4, 0x08, 0xa0, 0x01, 0xf9]),
    );

    expect(messages).toEqual([
      { kind: "digitalPort", port: 1, value: 1 },
      // An unknown status byte (A0) leaves the waiting SET_PIN_MODE waiting.
      { kind: "setPinMode", pin: 8, mode: 1 },
      { kind: "reportVersion" },
    ]);
    expect(parser.droppedBytes).toBe(2 + 2 + oversized.length + 1);
  });

  it("keeps status bytes inside a sysex frame as payload, and a waiting message waits across the frame", () => {
    const parser = new FirmataParser();

    const messages = parser.push(Uint8Array.from([0x90, 0x01, 0xf0, 0x10, 0xf9, 0xf7, 0x00]));

    expect(messages).toEqual([
      { kind: "sysex", command: 0x10, data: [0xf9] },
      { kind: "digitalPort", port: 0, value: 1 },
    ]);
  });

  it("decodes a message split across chunks", () => {
    const parser = new FirmataParser();

    expect(parser.push(Uint8Array.from([0xf0, 0x6d]))).toEqual([]);
    expect(parser.push(Uint8Array.from([0x08, 0xf7, 0xe5]))).toEqual([{ kind: "sysex", command: 0x6d, data: [8] }]);
    expect(parser.push(Uint8Array.from([0x7f, 0x01]))).toEqual([{ kind: "analogWrite", pin: 5, value: 255 }]);
  });
});
