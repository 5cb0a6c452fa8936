/**
 * Firmata 2.5 wire constants, from the protocol's own text (github.com/firmata/protocol, protocol.md "Message
 * Types", "Sysex Message Format" and "Capability Query / Supported Modes"). Messages are MIDI-shaped: a status byte
 * with the high bit set and 7-bit data bytes, or a sysex frame START_SYSEX id payload… END_SYSEX.
 */

/** Status bytes (protocol.md, Message Types table). The 0x80–0xEF ones carry a port or pin in their low nibble. */
export const Command = {
  DIGITAL_MESSAGE: 0x90,
  REPORT_ANALOG: 0xc0,
  REPORT_DIGITAL: 0xd0,
  ANALOG_MESSAGE: 0xe0,
  START_SYSEX: 0xf0,
  SET_PIN_MODE: 0xf4,
  /** Added in protocol 2.5. */
  SET_DIGITAL_PIN_VALUE: 0xf5,
  END_SYSEX: 0xf7,
  REPORT_VERSION: 0xf9,
  SYSTEM_RESET: 0xff,
} as const;

/** Sysex feature ids of the core protocol (protocol.md, Sysex Message Format) plus SERVO_CONFIG (servos.md). */
export const Sysex = {
  ANALOG_MAPPING_QUERY: 0x69,
  ANALOG_MAPPING_RESPONSE: 0x6a,
  CAPABILITY_QUERY: 0x6b,
  CAPABILITY_RESPONSE: 0x6c,
  PIN_STATE_QUERY: 0x6d,
  PIN_STATE_RESPONSE: 0x6e,
  EXTENDED_ANALOG: 0x6f,
  SERVO_CONFIG: 0x70,
  STRING_DATA: 0x71,
  REPORT_FIRMWARE: 0x79,
  SAMPLING_INTERVAL: 0x7a,
} as const;

/** Pin modes as they appear in SET_PIN_MODE, capability and pin-state messages (protocol.md, Supported Modes). */
export const PinMode = {
  INPUT: 0x00,
  OUTPUT: 0x01,
  ANALOG: 0x02,
  PWM: 0x03,
  SERVO: 0x04,
  SHIFT: 0x05,
  I2C: 0x06,
  ONEWIRE: 0x07,
  STEPPER: 0x08,
  ENCODER: 0x09,
  SERIAL: 0x0a,
  PULLUP: 0x0b,
} as const;

/** Ends one pin's mode list in a capability response; "no analog channel" in an analog mapping response. */
export const pinEntryEnd = 0x7f;

/** The protocol version a 2.5 board reports in REPORT_VERSION and REPORT_FIRMWARE. */
export const protocolVersion = { major: 2, minor: 5 } as const;

/** Low 7 bits first, then the next 7: the two-byte form of 14-bit values (protocol.md, Data Message Expansion). */
export function twoSevenBitBytes(value: number): [number, number] {
  return [value & 0x7f, (value >> 7) & 0x7f];
}

/** Text as STRING_DATA and REPORT_FIRMWARE carry it: each character as LSB, MSB 7-bit pairs (protocol.md, String). */
export function sevenBitText(text: string): number[] {
  return [...Buffer.from(text, "latin1")].flatMap((byte) => twoSevenBitBytes(byte));
}
