import { Command } from "./firmata-protocol.ts";

/** StandardFirmata's input buffer (MAX_DATA_BYTES in Firmata.h): the payload bytes one sysex frame may carry. */
export const sysexDataBytesMax = 64;

/** What a host can ask of the board, one entry per complete message. */
export type HostMessage =
  | { kind: "digitalPort"; port: number; value: number }
  | { kind: "analogWrite"; pin: number; value: number }
  | { kind: "reportAnalog"; channel: number; enabled: boolean }
  | { kind: "reportDigital"; port: number; enabled: boolean }
  | { kind: "setPinMode"; pin: number; mode: number }
  | { kind: "setPinValue"; pin: number; value: number }
  | { kind: "reportVersion" }
  | { kind: "systemReset" }
  | { kind: "sysex"; command: number; data: number[] };

type MultiByteCommand =
  | typeof Command.DIGITAL_MESSAGE
  | typeof Command.ANALOG_MESSAGE
  | typeof Command.REPORT_ANALOG
  | typeof Command.REPORT_DIGITAL
  | typeof Command.SET_PIN_MODE
  | typeof Command.SET_DIGITAL_PIN_VALUE;

/** Data bytes after each status byte that starts a multi-byte message (protocol.md, Message Types table). */
const dataBytesOf: Record<MultiByteCommand, number> = {
  [Command.DIGITAL_MESSAGE]: 2,
  [Command.ANALOG_MESSAGE]: 2,
  [Command.SET_PIN_MODE]: 2,
  [Command.SET_DIGITAL_PIN_VALUE]: 2,
  [Command.REPORT_ANALOG]: 1,
  [Command.REPORT_DIGITAL]: 1,
};

function isMultiByte(command: number): command is MultiByteCommand {
  return command in dataBytesOf;
}

/**
 * The board's reading of the host's byte stream, with the firmware parser's rules (Firmata.cpp processInput):
 * - inside a sysex frame every byte up to END_SYSEX is payload, status bytes included;
 * - a status byte that starts a message abandons a message still waiting for data;
 * - a status byte the board does not know is ignored and leaves a waiting message waiting;
 * - a data byte with no message waiting for it is ignored;
 * - REPORT_ANALOG / REPORT_DIGITAL enable on any non-zero value.
 * Where the firmware's behaviour is undefined (an empty frame, a frame past its 64-byte buffer) the frame is
 * dropped. `droppedBytes` counts every byte that led to no message.
 */
export class FirmataParser {
  private pending: { command: MultiByteCommand; channel: number; data: number[] } | null = null;
  private sysex: number[] | null = null;
  private sysexOverflow = false;
  droppedBytes = 0;

  push(bytes: Uint8Array): HostMessage[] {
    const messages: HostMessage[] = [];
    for (const byte of bytes) {
      const message = this.sysex !== null ? this.sysexByte(byte) : this.streamByte(byte);
      if (message !== null) messages.push(message);
    }
    return messages;
  }

  private sysexByte(byte: number): HostMessage | null {
    const frame = this.sysex!;
    if (byte !== Command.END_SYSEX) {
      if (frame.length >= sysexDataBytesMax) this.sysexOverflow = true;
      else frame.push(byte);
      if (this.sysexOverflow) this.droppedBytes += 1;
      return null;
    }
    this.sysex = null;
    if (this.sysexOverflow || frame.length === 0) {
      this.droppedBytes += frame.length + 2;
      return null;
    }
    const [command, ...data] = frame;
    return { kind: "sysex", command: command!, data };
  }

  private streamByte(byte: number): HostMessage | null {
    if (byte < 0x80) return this.dataByte(byte);
    const command = byte < 0xf0 ? byte & 0xf0 : byte;
    if (isMultiByte(command)) {
      this.abandonPending();
      this.pending = { command, channel: byte & 0x0f, data: [] };
      return null;
    }
    switch (command) {
      case Command.START_SYSEX:
        this.sysex = [];
        this.sysexOverflow = false;
        return null;
      case Command.SYSTEM_RESET:
        this.abandonPending();
        return { kind: "systemReset" };
      case Command.REPORT_VERSION:
        return { kind: "reportVersion" };
      default:
        this.droppedBytes += 1;
        return null;
    }
  }

  private dataByte(byte: number): HostMessage | null {
    const pending = this.pending;
    if (pending === null) {
      this.droppedBytes += 1;
      return null;
    }
    pending.data.push(byte);
    if (pending.data.length < dataBytesOf[pending.command]) return null;
    this.pending = null;
    return toMessage(pending.command, pending.channel, pending.data);
  }

  private abandonPending(): void {
    if (this.pending !== null) this.droppedBytes += this.pending.data.length + 1;
    this.pending = null;
  }
}

function toMessage(command: MultiByteCommand, channel: number, data: number[]): HostMessage {
  const [first = 0, second = 0] = data;
  const value14 = first | (second << 7);
  switch (command) {
    case Command.DIGITAL_MESSAGE:
      return { kind: "digitalPort", port: channel, value: value14 };
    case Command.ANALOG_MESSAGE:
      return { kind: "analogWrite", pin: channel, value: value14 };
    case Command.REPORT_ANALOG:
      return { kind: "reportAnalog", channel, enabled: first !== 0 };
    case Command.REPORT_DIGITAL:
      return { kind: "reportDigital", port: channel, enabled: first !== 0 };
    case Command.SET_PIN_MODE:
      return { kind: "setPinMode", pin: first, mode: second };
    case Command.SET_DIGITAL_PIN_VALUE:
      return { kind: "setPinValue", pin: first, value: second };
  }
}
