import { describe, expect, it } from "vitest";
import { PinMode } from "../../simulator/firmata/firmata-protocol.ts";
import { hex, sevenBitPairs, wireBoard } from "./firmata-wire-harness.ts";

// Byte traces of the virtual Uno against the Firmata protocol. Sources, cited on each expectation:
//   [P]  firmata/protocol protocol.md (2.5.1): message tables and the layout of each reply;
//   [SF] firmata/arduino examples/StandardFirmata/StandardFirmata.ino (2.5): what the sketch does with each message;
//   [B]  firmata/arduino Boards.h, the ATmega328P (Uno) entry: pins 2–19 digital, 14–19 analog, 18–19 I2C, and
//        digitalPinHasPWM: 3, 5, 6, 9, 10, 11.
//   [F]  firmata/arduino Firmata.cpp: begin() sends the version and firmware reports; the sketch's name from
//        __FILE__ keeps its ".ino" (only ".cpp" is cut).

const uartPin = [0x7f];
const digitalPin = [0x00, 0x01, 0x0b, 0x01, 0x01, 0x01, 0x04, 0x0e, 0x7f];
const pwmPin = [0x00, 0x01, 0x0b, 0x01, 0x01, 0x01, 0x03, 0x08, 0x04, 0x0e, 0x7f];
const analogPin = [0x00, 0x01, 0x0b, 0x01, 0x01, 0x01, 0x02, 0x0a, 0x04, 0x0e, 0x7f];
const analogI2cPin = [0x00, 0x01, 0x0b, 0x01, 0x01, 0x01, 0x02, 0x0a, 0x04, 0x0e, 0x06, 0x01, 0x7f];
const unoCapabilityPins = [
  uartPin, uartPin, digitalPin, pwmPin, digitalPin, pwmPin, pwmPin, digitalPin, digitalPin, pwmPin, // 0–9
  pwmPin, pwmPin, digitalPin, digitalPin, analogPin, analogPin, analogPin, analogPin, analogI2cPin, analogI2cPin, // 10–19
];

describe("the virtual Uno speaks Firmata byte for byte", () => {
  it("announces version 2.5 and its firmware on boot, and again when asked", () => {
    const { drain, exchange } = wireBoard({ firmwareName: "StandardFirmata.ino" });

    // [F] begin(): printVersion() then printFirmwareVersion(); [P] "Version report format", "Receive Firmware Name
    // and Version": F0 79 major minor name-as-LSB/MSB-pairs F7.
    const firmware = [0xf0, 0x79, 0x02, 0x05, ...sevenBitPairs("StandardFirmata.ino"), 0xf7];
    expect(hex(drain())).toBe(hex([0xf9, 0x02, 0x05, ...firmware]));
    // [P] "Request version report": F9 alone.
    expect(hex(exchange([0xf9]))).toBe(hex([0xf9, 0x02, 0x05]));
    // [P] "Query firmware Name and Version": F0 79 F7.
    expect(hex(exchange([0xf0, 0x79, 0xf7]))).toBe(hex(firmware));
  });

  it("a board without auto-reset stays silent until asked", () => {
    const { drain, exchange } = wireBoard({ announceOnStart: false });

    expect(drain()).toEqual([]);
    expect(hex(exchange([0xf9]))).toBe(hex([0xf9, 0x02, 0x05]));
  });

  it("answers CAPABILITY_QUERY with an Uno's twenty pins", () => {
    const { exchange } = wireBoard();

    // [P] "Capabilities response": per pin mode/resolution pairs then 7F. [SF] CAPABILITY_QUERY: digital pins
    // INPUT 1, PULLUP 1, OUTPUT 1; analog ANALOG 10; PWM 8; digital SERVO 14; I2C 1. [B] which pin has which.
    expect(hex(exchange([0xf0, 0x6b, 0xf7]))).toBe(hex([0xf0, 0x6c, ...unoCapabilityPins.flat(), 0xf7]));
  });

  it("answers ANALOG_MAPPING_QUERY: A0–A5 on pins 14–19", () => {
    const { exchange } = wireBoard();

    // [P] "Analog mapping response": one byte per pin, its channel or 127. [B] PIN_TO_ANALOG(p) = p − 14.
    const mapping = [...new Array<number>(14).fill(0x7f), 0x00, 0x01, 0x02, 0x03, 0x04, 0x05];
    expect(hex(exchange([0xf0, 0x69, 0xf7]))).toBe(hex([0xf0, 0x6a, ...mapping, 0xf7]));
  });

  it("answers PIN_STATE_QUERY with the reset configuration", () => {
    const { exchange } = wireBoard();

    // [P] "Pin state response": F0 6E pin mode state F7. [SF] systemResetCallback: analog pins ANALOG, other
    // digital pins OUTPUT, state 0; the UART pins keep their zeroed entry; a pin past TOTAL_PINS gets no mode.
    expect(hex(exchange([0xf0, 0x6d, 0x0d, 0xf7]))).toBe("f0 6e 0d 01 00 f7");
    expect(hex(exchange([0xf0, 0x6d, 0x0e, 0xf7]))).toBe("f0 6e 0e 02 00 f7");
    expect(hex(exchange([0xf0, 0x6d, 0x00, 0xf7]))).toBe("f0 6e 00 00 00 f7");
    expect(hex(exchange([0xf0, 0x6d, 0x28, 0xf7]))).toBe("f0 6e 28 f7");
  });

  it("PWM: ANALOG_MESSAGE and EXTENDED_ANALOG set the duty; pin state carries the extra 7-bit groups", () => {
    const { board, exchange } = wireBoard();

    // [P] "set pin mode" F4 pin mode; "analog I/O message" E0|pin LSB MSB.
    expect(exchange([0xf4, 0x09, PinMode.PWM, 0xe9, 0x48, 0x01])).toEqual([]);
    expect(board.ledOn(9)).toBe(true);
    // [P] "Pin state response": bits 7–13 follow when set. 200 = 0x48 + (0x01 << 7).
    expect(hex(exchange([0xf0, 0x6d, 0x09, 0xf7]))).toBe("f0 6e 09 03 48 01 f7");
    // [P] "Extended Analog": F0 6F pin bits0-6 bits7-13 bits14-20 F7; [SF] three groups at most.
    exchange([0xf0, 0x6f, 0x09, 0x7f, 0x7f, 0x01, 0xf7]);
    expect(hex(exchange([0xf0, 0x6d, 0x09, 0xf7]))).toBe("f0 6e 09 03 7f 7f 01 f7");
    exchange([0xe9, 0x00, 0x00]);
    expect(board.ledOn(9)).toBe(false);
  });

  it("digital output by port (DIGITAL_MESSAGE) and by pin (SET_DIGITAL_PIN_VALUE)", () => {
    const { board, exchange } = wireBoard();

    // [P] "digital I/O message" 90|port, pins 0–6, pin 7: port 1 bit 5 is pin 13.
    exchange([0xf4, 0x0d, PinMode.OUTPUT, 0x91, 0x20, 0x00]);
    expect(board.ledOn(13)).toBe(true);
    // [P] "Set digital pin value (added in v2.5)": F5 pin value.
    exchange([0xf5, 0x0d, 0x00]);
    expect(board.ledOn(13)).toBe(false);
    expect(hex(exchange([0xf0, 0x6d, 0x0d, 0xf7]))).toBe("f0 6e 0d 01 00 f7");
  });

  it("reports a digital port when enabled and on every change of an input bit", () => {
    const { board, drain, exchange } = wireBoard();

    // [P] "Toggle digital port reporting": D0|port 1; since 2.4 the port value is sent at once. Pin 2 with its
    // pull-up reads high: bit 2 of port 0.
    expect(hex(exchange([0xf4, 0x02, PinMode.PULLUP, 0xd0, 0x01]))).toBe("90 04 00");
    drain();
    board.pressButton(2);
    expect(hex(drain())).toBe("90 00 00");
    board.pressButton(2);
    expect(drain()).toEqual([]);
    board.releaseButton(2);
    expect(hex(drain())).toBe("90 04 00");
    // [P] D0 0 disables; [SF] reportDigitalCallback stops the loop's reports for the port.
    exchange([0xd0, 0x00]);
    board.pressButton(2);
    expect(drain()).toEqual([]);
  });

  it("an INPUT pin written 1 gets its pull-up, as StandardFirmata keeps for old hosts", () => {
    const { board, exchange } = wireBoard();

    // [SF] digitalWriteCallback: INPUT pin, value 1 → pinMode(INPUT_PULLUP) and pinState 1.
    exchange([0xf4, 0x02, PinMode.INPUT, 0x90, 0x04, 0x00]);
    expect(hex(exchange([0xf0, 0x6d, 0x02, 0xf7]))).toBe("f0 6e 02 00 01 f7");
    expect(board.pinState(2)).toMatchObject({ mode: PinMode.INPUT, pullup: true });
  });

  it("reports an analog channel at once when enabled, then every sampling interval", () => {
    const { board, drain, exchange } = wireBoard();
    board.setAnalogInput(0, 512);

    // [P] "Toggle analogIn reporting": C0|channel 1; since 2.4 the value is sent at once. 512 = 0x00 + (0x04 << 7).
    expect(hex(exchange([0xc0, 0x01]))).toBe("e0 00 04");
    // [SF] loop(): a report when millis() − previousMillis > samplingInterval (19 ms by default).
    board.elapse(19);
    expect(drain()).toEqual([]);
    board.elapse(1);
    expect(hex(drain())).toBe("e0 00 04");
    // [P] "Sampling Interval": F0 7A LSB MSB F7; 100 ms = 0x64.
    exchange([0xf0, 0x7a, 0x64, 0x00, 0xf7]);
    board.setAnalogInput(0, 1023);
    board.elapse(99);
    expect(drain()).toEqual([]);
    board.elapse(1);
    expect(hex(drain())).toBe("e0 7f 07");
    // [SF] setPinModeCallback: an analog pin leaving ANALOG stops its reports.
    exchange([0xf4, 0x0e, PinMode.OUTPUT]);
    board.elapse(500);
    expect(drain()).toEqual([]);
  });

  it("validates pin modes as the sketch does", () => {
    const { exchange } = wireBoard();

    // [SF] setPinModeCallback default case: a mode the sketch has no case for (SHIFT) → STRING_DATA.
    const unknown = [0xf0, 0x71, ...sevenBitPairs("Unknown pin mode"), 0xf7];
    expect(hex(exchange([0xf4, 0x04, PinMode.SHIFT]))).toBe(hex(unknown));
    // [SF] a known mode the pin lacks (PWM on pin 4, [B] no timer) is silently not applied; the pin stays OUTPUT.
    expect(exchange([0xf4, 0x04, PinMode.PWM])).toEqual([]);
    expect(hex(exchange([0xf0, 0x6d, 0x04, 0xf7]))).toBe("f0 6e 04 01 00 f7");
    // [B] the UART pins are not digital: OUTPUT leaves pin 1 as it was.
    exchange([0xf4, 0x01, PinMode.OUTPUT]);
    expect(hex(exchange([0xf0, 0x6d, 0x01, 0xf7]))).toBe("f0 6e 01 00 00 f7");
  });

  it("ignores sysex commands it does not handle and keeps parsing", () => {
    const { exchange } = wireBoard();

    // [SF] sysexCallback has no default case: unknown ids (a user-defined 0x01, I2C_CONFIG 0x78) get no answer.
    expect(exchange([0xf0, 0x01, 0x02, 0x03, 0xf7, 0xf0, 0x78, 0x00, 0x00, 0xf7])).toEqual([]);
    expect(hex(exchange([0xf9]))).toBe("f9 02 05");
  });

  it("SYSTEM_RESET stops reporting and returns the pins to their reset modes", () => {
    const { board, drain, exchange } = wireBoard();
    exchange([0xf4, 0x02, PinMode.PULLUP, 0xd0, 0x01]);

    // [P] "system reset" FF; [SF] systemResetCallback: reporting off, digital pins OUTPUT.
    expect(exchange([0xff])).toEqual([]);
    board.pressButton(2);
    expect(drain()).toEqual([]);
    expect(hex(exchange([0xf0, 0x6d, 0x02, 0xf7]))).toBe("f0 6e 02 01 00 f7");
  });
});
