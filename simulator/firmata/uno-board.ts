import { PinMode } from "./firmata-protocol.ts";
import type { PinModes } from "./firmata-encoder.ts";

/**
 * Which Firmata pin can do what on a board: the part of Firmata's Boards.h the firmware consults (TOTAL_PINS,
 * IS_PIN_DIGITAL, IS_PIN_ANALOG, IS_PIN_PWM, IS_PIN_I2C, PIN_TO_ANALOG, MAX_SERVOS).
 */
export interface BoardPinMap {
  readonly totalPins: number;
  readonly totalAnalogPins: number;
  readonly maxServos: number;
  isDigital(pin: number): boolean;
  isAnalog(pin: number): boolean;
  isPwm(pin: number): boolean;
  isI2c(pin: number): boolean;
  /** Analog channel of an analog pin (PIN_TO_ANALOG). */
  pinToAnalog(pin: number): number;
}

const unoPwmPins = new Set([3, 5, 6, 9, 10, 11]);

/**
 * An Arduino Uno (ATmega328P with 6 analog inputs), as Boards.h maps it: 20 pins; 0 and 1 are the UART and not
 * Firmata pins; 2–19 are digital; 14–19 are A0–A5; PWM on 3, 5, 6, 9, 10, 11 (digitalPinHasPWM); I2C on 18 and 19;
 * twelve servos (Servo.h on an ATmega328).
 */
export const unoPinMap: BoardPinMap = {
  totalPins: 20,
  totalAnalogPins: 6,
  maxServos: 12,
  isDigital: (pin) => pin >= 2 && pin <= 19,
  isAnalog: (pin) => pin >= 14 && pin < 20,
  isPwm: (pin) => unoPwmPins.has(pin),
  isI2c: (pin) => pin === 18 || pin === 19,
  pinToAnalog: (pin) => pin - 14,
};

/** TOTAL_PORTS: eight pins to a port. */
export function portCount(map: BoardPinMap): number {
  return Math.ceil(map.totalPins / 8);
}

/**
 * What StandardFirmata's CAPABILITY_QUERY handler lists for each pin, in its order: digital pins INPUT, PULLUP,
 * OUTPUT (resolution 1); analog pins ANALOG 10 bits; PWM pins PWM 8 bits (DEFAULT_PWM_RESOLUTION); digital pins
 * SERVO 14; I2C pins I2C 1.
 */
export function standardFirmataCapabilities(map: BoardPinMap): PinModes[] {
  return Array.from({ length: map.totalPins }, (_, pin) => {
    const modes: Array<readonly [number, number]> = [];
    if (map.isDigital(pin)) modes.push([PinMode.INPUT, 1], [PinMode.PULLUP, 1], [PinMode.OUTPUT, 1]);
    if (map.isAnalog(pin)) modes.push([PinMode.ANALOG, 10]);
    if (map.isPwm(pin)) modes.push([PinMode.PWM, 8]);
    if (map.isDigital(pin)) modes.push([PinMode.SERVO, 14]);
    if (map.isI2c(pin)) modes.push([PinMode.I2C, 1]);
    return modes;
  });
}

/** ANALOG_MAPPING_QUERY's answer: each pin's analog channel, or null. */
export function analogChannels(map: BoardPinMap): Array<number | null> {
  return Array.from({ length: map.totalPins }, (_, pin) => (map.isAnalog(pin) ? map.pinToAnalog(pin) : null));
}
