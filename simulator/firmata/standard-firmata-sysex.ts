import { logger } from "../../core/log.ts";
import { analogMappingResponse, capabilityResponse, pinStateResponse } from "./firmata-encoder.ts";
import { PinMode, Sysex } from "./firmata-protocol.ts";
import type { StandardFirmata } from "./standard-firmata.ts";
import { analogChannels, standardFirmataCapabilities } from "./uno-board.ts";

const log = logger("tapwire:sim:firmata");

/** StandardFirmata's samplingInterval before a host sets one, and its MINIMUM_SAMPLING_INTERVAL. */
export const samplingIntervalMsDefault = 19;
export const samplingIntervalMsMin = 1;

/**
 * Firmata.cpp's processSysexMessage and StandardFirmata's sysexCallback. Each handler checks the payload length
 * as the sketch does (`argc`) and does nothing when it is short. Ids the sketch has no case for (and I2C, which is
 * not modelled) are ignored without an answer, as the sketch's switch falls through them.
 */
export function answerSysex(firmware: StandardFirmata, command: number, data: readonly number[]): void {
  switch (command) {
    case Sysex.REPORT_FIRMWARE:
      return firmware.printFirmwareVersion();
    case Sysex.STRING_DATA:
      // StandardFirmata attaches no string callback.
      return;
    case Sysex.CAPABILITY_QUERY:
      return firmware.send(capabilityResponse(standardFirmataCapabilities(firmware.map)));
    case Sysex.ANALOG_MAPPING_QUERY:
      return firmware.send(analogMappingResponse(analogChannels(firmware.map)));
    case Sysex.PIN_STATE_QUERY:
      return answerPinState(firmware, data);
    case Sysex.EXTENDED_ANALOG:
      return extendedAnalog(firmware, data);
    case Sysex.SAMPLING_INTERVAL:
      return samplingInterval(firmware, data);
    case Sysex.SERVO_CONFIG:
      return servoConfig(firmware, data);
    default:
      log.debug({ command }, "sysex command StandardFirmata does not handle; ignored");
  }
}

/** PIN_STATE_QUERY with argc > 0: the pin's mode and state, or only the pin number past TOTAL_PINS. */
function answerPinState(firmware: StandardFirmata, data: readonly number[]): void {
  const pin = data[0];
  if (pin === undefined) return;
  const known = pin < firmware.map.totalPins;
  firmware.send(
    pinStateResponse(pin, known ? { mode: firmware.pinConfig[pin]!, state: firmware.pinState[pin]! } : null),
  );
}

/** EXTENDED_ANALOG with argc > 1: pin, then up to three 7-bit groups of the value, into analogWriteCallback. */
function extendedAnalog(firmware: StandardFirmata, data: readonly number[]): void {
  if (data.length < 2) return;
  const [pin, low = 0, middle = 0, high = 0] = data;
  firmware.analogWrite(pin!, low | (middle << 7) | (high << 14));
}

/** SAMPLING_INTERVAL with argc > 1: LSB, MSB of milliseconds, raised to MINIMUM_SAMPLING_INTERVAL. */
function samplingInterval(firmware: StandardFirmata, data: readonly number[]): void {
  if (data.length < 2) return;
  firmware.samplingIntervalMs = Math.max(samplingIntervalMsMin, data[0]! | (data[1]! << 7));
}

/** SERVO_CONFIG with argc > 4 (pin, min pulse, max pulse): re-attaches the servo and sets the pin to SERVO. */
function servoConfig(firmware: StandardFirmata, data: readonly number[]): void {
  if (data.length < 5) return;
  const pin = data[0]!;
  if (!firmware.map.isDigital(pin)) return;
  firmware.detachServo(pin);
  firmware.attachServo(pin);
  firmware.setPinMode(pin, PinMode.SERVO);
}
