import { Command, Sysex, pinEntryEnd, sevenBitText, twoSevenBitBytes } from "./firmata-protocol.ts";

/**
 * What a board sends, byte for byte as protocol.md lays each message out (section named on each function) and as
 * StandardFirmata writes it.
 */

function sysex(id: number, payload: readonly number[]): number[] {
  return [Command.START_SYSEX, id, ...payload, Command.END_SYSEX];
}

/** "Version report format": F9 major minor. */
export function versionReport(version: { major: number; minor: number }): number[] {
  return [Command.REPORT_VERSION, version.major, version.minor];
}

/** "Query Firmware Name and Version", the reply: F0 79 major minor name-as-7-bit-pairs F7. */
export function firmwareReport(version: { major: number; minor: number }, name: string): number[] {
  return sysex(Sysex.REPORT_FIRMWARE, [version.major, version.minor, ...sevenBitText(name)]);
}

/** One pin's modes as [mode, resolution] pairs, in the order the firmware lists them. */
export type PinModes = ReadonlyArray<readonly [mode: number, resolution: number]>;

/** "Capabilities response": per pin its mode/resolution pairs then 7F; the pin count is the number of 7Fs. */
export function capabilityResponse(pins: readonly PinModes[]): number[] {
  return sysex(
    Sysex.CAPABILITY_RESPONSE,
    pins.flatMap((modes) => [...modes.flatMap(([mode, resolution]) => [mode, resolution]), pinEntryEnd]),
  );
}

/** "Analog mapping response": one byte per pin, its analog channel or 7F. */
export function analogMappingResponse(channels: ReadonlyArray<number | null>): number[] {
  return sysex(
    Sysex.ANALOG_MAPPING_RESPONSE,
    channels.map((channel) => channel ?? pinEntryEnd),
  );
}

/**
 * "Pin state response": F0 6E pin mode state… F7. The state goes out in 7-bit groups, the optional ones only when
 * set; StandardFirmata keeps pinState in a 16-bit int and writes bits 7–13 when any of bits 7–15 is set and bits
 * 14–15 when either is. A pin the board does not have gets neither mode nor state.
 */
export function pinStateResponse(pin: number, entry: { mode: number; state: number } | null): number[] {
  if (entry === null) return sysex(Sysex.PIN_STATE_RESPONSE, [pin]);
  const state = entry.state & 0xffff;
  const stateBytes = [state & 0x7f];
  if ((state & 0xff80) !== 0) stateBytes.push((state >> 7) & 0x7f);
  if ((state & 0xc000) !== 0) stateBytes.push((state >> 14) & 0x7f);
  return sysex(Sysex.PIN_STATE_RESPONSE, [pin, entry.mode, ...stateBytes]);
}

/** "Two byte digital data format": 9p bits0-6 bit7 for port p. */
export function digitalPortMessage(port: number, value: number): number[] {
  return [Command.DIGITAL_MESSAGE | (port & 0x0f), ...twoSevenBitBytes(value)];
}

/** "Analog 14-bit data format": Ec lsb msb for analog channel c (0–15). */
export function analogMessage(channel: number, value: number): number[] {
  return [Command.ANALOG_MESSAGE | (channel & 0x0f), ...twoSevenBitBytes(value)];
}

/** "String": F0 71 text-as-7-bit-pairs F7. */
export function stringMessage(text: string): number[] {
  return sysex(Sysex.STRING_DATA, sevenBitText(text));
}
