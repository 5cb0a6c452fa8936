/**
 * Firmata 2.x wire constants and a streaming decoder for what a host sends to a board. Messages are MIDI-style:
 * a status byte (high bit set) followed by 7-bit data bytes, or a sysex frame START_SYSEX command … END_SYSEX.
 * (Firmata protocol, github.com/firmata/protocol: protocol.md, capability-query.md, pin-state-query.md.)
 */
export const Firmata = {
  DIGITAL_MESSAGE: 0x90,
  ANALOG_MESSAGE: 0xe0,
  REPORT_ANALOG: 0xc0,
  REPORT_DIGITAL: 0xd0,
  SET_PIN_MODE: 0xf4,
  REPORT_VERSION: 0xf9,
  SYSTEM_RESET: 0xff,
  START_SYSEX: 0xf0,
  END_SYSEX: 0xf7,
  ANALOG_MAPPING_QUERY: 0x69,
  ANALOG_MAPPING_RESPONSE: 0x6a,
  CAPABILITY_QUERY: 0x6b,
  CAPABILITY_RESPONSE: 0x6c,
  PIN_STATE_QUERY: 0x6d,
  PIN_STATE_RESPONSE: 0x6e,
  STRING_DATA: 0x71,
  QUERY_FIRMWARE: 0x79,
  /** Marks the end of one pin's entry in capability and analog-mapping responses. */
  NONE: 0x7f,
} as const;

export const PinMode = {
  INPUT: 0x00,
  OUTPUT: 0x01,
  ANALOG: 0x02,
  PWM: 0x03,
  SERVO: 0x04,
  I2C: 0x06,
  PULLUP: 0x0b,
} as const;

/** StandardFirmata's MAX_DATA_BYTES: a longer sysex frame would overrun the firmware's buffer. */
export const sysexDataBytesMax = 64;

export type HostCommand =
  | { kind: "digitalPort"; port: number; value: number }
  | { kind: "analogWrite"; pin: number; value: number }
  | { kind: "reportAnalog"; channel: number; enabled: boolean }
  | { kind: "reportDigital"; port: number; enabled: boolean }
  | { kind: "pinMode"; pin: number; mode: number }
  | { kind: "reportVersion" }
  | { kind: "systemReset" }
  | { kind: "sysex"; command: number; data: number[] };

/** Data bytes that follow each status byte the decoder understands. */
function dataLength(status: number): number | null {
  switch (status & 0xf0) {
    case Firmata.DIGITAL_MESSAGE:
    case Firmata.ANALOG_MESSAGE:
      return 2;
    case Firmata.REPORT_ANALOG:
    case Firmata.REPORT_DIGITAL:
      return 1;
  }
  switch (status) {
    case Firmata.SET_PIN_MODE:
      return 2;
    case Firmata.REPORT_VERSION:
    case Firmata.SYSTEM_RESET:
      return 0;
  }
  return null;
}

function toCommand(status: number, data: number[]): HostCommand {
  const channel = status & 0x0f;
  switch (status & 0xf0) {
    case Firmata.DIGITAL_MESSAGE:
      return { kind: "digitalPort", port: channel, value: data[0]! | (data[1]! << 7) };
    case Firmata.ANALOG_MESSAGE:
      return { kind: "analogWrite", pin: channel, value: data[0]! | (data[1]! << 7) };
    case Firmata.REPORT_ANALOG:
      return { kind: "reportAnalog", channel, enabled: data[0] === 1 };
    case Firmata.REPORT_DIGITAL:
      return { kind: "reportDigital", port: channel, enabled: data[0] === 1 };
  }
  if (status === Firmata.SET_PIN_MODE) return { kind: "pinMode", pin: data[0]!, mode: data[1]! };
  return status === Firmata.REPORT_VERSION ? { kind: "reportVersion" } : { kind: "systemReset" };
}

/**
 * Turns a byte stream into commands. Like the firmware, it drops a message cut short by a new status byte,
 * data bytes with no status before them, unknown status bytes with their data, and sysex frames longer than
 * `sysexDataBytesMax`; `droppedBytes` counts them.
 */
export class FirmataDecoder {
  private status: number | null = null;
  private needed = 0;
  private data: number[] = [];
  private inSysex = false;
  private sysexOverflow = false;
  droppedBytes = 0;

  push(bytes: Uint8Array): HostCommand[] {
    const commands: HostCommand[] = [];
    for (const byte of bytes) {
      const command = this.inSysex ? this.sysexByte(byte) : this.midiByte(byte);
      if (command !== null) commands.push(command);
    }
    return commands;
  }

  private sysexByte(byte: number): HostCommand | null {
    if (byte === Firmata.END_SYSEX) {
      this.inSysex = false;
      if (this.sysexOverflow || this.data.length === 0) {
        this.droppedBytes += this.data.length + 2;
        return null;
      }
      const [command, ...data] = this.data;
      return { kind: "sysex", command: command!, data };
    }
    if (byte >= 0x80) {
      this.droppedBytes += this.data.length + 1;
      this.inSysex = false;
      return this.midiByte(byte);
    }
    if (this.data.length > sysexDataBytesMax) {
      this.sysexOverflow = true;
      this.droppedBytes += 1;
      return null;
    }
    this.data.push(byte);
    return null;
  }

  private midiByte(byte: number): HostCommand | null {
    if (byte >= 0x80) {
      if (this.status !== null) this.droppedBytes += this.data.length + 1;
      this.data = [];
      this.status = null;
      if (byte === Firmata.START_SYSEX) {
        this.inSysex = true;
        this.sysexOverflow = false;
        return null;
      }
      const needed = dataLength(byte);
      if (needed === null) {
        this.droppedBytes += 1;
        return null;
      }
      if (needed === 0) return toCommand(byte, []);
      this.status = byte;
      this.needed = needed;
      return null;
    }
    if (this.status === null) {
      this.droppedBytes += 1;
      return null;
    }
    this.data.push(byte);
    if (this.data.length < this.needed) return null;
    const command = toCommand(this.status, this.data);
    this.status = null;
    this.data = [];
    return command;
  }
}
