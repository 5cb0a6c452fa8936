import type { AvrPins } from "./avr-pins.ts";
import { analogMessage, digitalPortMessage, firmwareReport, stringMessage, versionReport } from "./firmata-encoder.ts";
import type { HostMessage } from "./firmata-parser.ts";
import { PinMode, protocolVersion } from "./firmata-protocol.ts";
import { answerSysex, samplingIntervalMsDefault } from "./standard-firmata-sysex.ts";
import { portCount, type BoardPinMap } from "./uno-board.ts";

/** Sampling rounds one elapse() may run; a longer stretch is caught up as the firmware's loop would, then dropped. */
const samplingRoundsMax = 10_000;

export interface StandardFirmataOptions {
  /** REPORT_FIRMWARE's name; the firmware reports its sketch's file name. */
  firmwareName: string;
  send(bytes: number[]): void;
}

/**
 * The StandardFirmata 2.5 sketch (firmata/arduino examples/StandardFirmata) over simulated pins: its callbacks,
 * pin bookkeeping (pinConfig, pinState, portConfigInputs, reportPINs, previousPINs) and loop, without timers. Its
 * millis() moves only through elapse(), so analog sampling is as deterministic as the rest.
 */
export class StandardFirmata {
  readonly pinConfig: number[];
  readonly pinState: number[];
  private readonly reportPins: boolean[];
  private readonly previousPins: number[];
  private readonly portConfigInputs: number[];
  private analogInputsToReport = 0;
  private readonly attachedServos = new Set<number>();
  private isResetting = false;
  samplingIntervalMs = samplingIntervalMsDefault;
  private millis = 0;
  private previousMillis = 0;

  constructor(
    readonly pins: AvrPins,
    readonly map: BoardPinMap,
    private readonly options: StandardFirmataOptions,
  ) {
    // Globals start at zero: a pin the reset leaves alone (the UART pins) reads as mode 0.
    this.pinConfig = new Array<number>(map.totalPins).fill(0);
    this.pinState = new Array<number>(map.totalPins).fill(0);
    const ports = portCount(map);
    this.reportPins = new Array<boolean>(ports).fill(false);
    this.previousPins = new Array<number>(ports).fill(0);
    this.portConfigInputs = new Array<number>(ports).fill(0);
  }

  /** setup(): Firmata.begin() announces the version and firmware (`announce`), then systemResetCallback(). */
  boot(announce: boolean): void {
    if (announce) {
      this.printVersion();
      this.printFirmwareVersion();
    }
    this.systemReset();
  }

  send(bytes: number[]): void {
    this.options.send(bytes);
  }

  printVersion(): void {
    this.send(versionReport(protocolVersion));
  }

  printFirmwareVersion(): void {
    this.send(firmwareReport(protocolVersion, this.options.firmwareName));
  }

  sendString(text: string): void {
    this.send(stringMessage(text));
  }

  handle(message: HostMessage): void {
    switch (message.kind) {
      case "digitalPort":
        return this.digitalWrite(message.port, message.value);
      case "analogWrite":
        return this.analogWrite(message.pin, message.value);
      case "reportAnalog":
        return this.reportAnalog(message.channel, message.enabled);
      case "reportDigital":
        return this.reportDigital(message.port, message.enabled);
      case "setPinMode":
        return this.setPinMode(message.pin, message.mode);
      case "setPinValue":
        return this.setPinValue(message.pin, message.value);
      case "reportVersion":
        return this.printVersion();
      case "systemReset":
        return this.systemReset();
      case "sysex":
        return answerSysex(this, message.command, message.data);
    }
  }

  /** loop()'s DIGITALREAD step: each reported port whose input bits changed since it was last sent. */
  checkDigitalInputs(): void {
    this.reportPins.forEach((reported, port) => {
      if (reported) this.outputPort(port, false);
    });
  }

  /** loop()'s ANALOGREAD step as `ms` of millis() pass: every samplingInterval, each reported analog pin. */
  elapse(ms: number): void {
    this.millis += ms;
    for (let round = 0; this.millis - this.previousMillis > this.samplingIntervalMs; round++) {
      if (round === samplingRoundsMax) {
        this.previousMillis = this.millis;
        return;
      }
      this.previousMillis += this.samplingIntervalMs;
      this.sampleAnalogInputs();
    }
  }

  setPinMode(pin: number, mode: number): void {
    // The firmware indexes its tables with the pin unchecked; past TOTAL_PINS that is undefined, so ignore it.
    if (pin >= this.map.totalPins) return;
    const { map, pins } = this;
    if (map.isDigital(pin) && mode !== PinMode.SERVO) this.detachServo(pin);
    if (map.isAnalog(pin)) this.reportAnalog(map.pinToAnalog(pin), mode === PinMode.ANALOG);
    if (map.isDigital(pin)) {
      const bit = 1 << (pin & 7);
      const isInput = mode === PinMode.INPUT || mode === PinMode.PULLUP;
      this.portConfigInputs[pin >> 3] = isInput ? this.portConfigInputs[pin >> 3]! | bit : this.portConfigInputs[pin >> 3]! & ~bit;
    }
    this.pinState[pin] = 0;
    switch (mode) {
      case PinMode.ANALOG:
        if (!map.isAnalog(pin)) return;
        if (map.isDigital(pin)) pins.pinMode(pin, "INPUT");
        this.pinConfig[pin] = PinMode.ANALOG;
        return;
      case PinMode.INPUT:
        if (!map.isDigital(pin)) return;
        pins.pinMode(pin, "INPUT");
        this.pinConfig[pin] = PinMode.INPUT;
        return;
      case PinMode.PULLUP:
        if (!map.isDigital(pin)) return;
        pins.pinMode(pin, "INPUT_PULLUP");
        this.pinConfig[pin] = PinMode.PULLUP;
        this.pinState[pin] = 1;
        return;
      case PinMode.OUTPUT:
        if (!map.isDigital(pin)) return;
        if (this.pinConfig[pin] === PinMode.PWM) pins.digitalWrite(pin, 0);
        pins.pinMode(pin, "OUTPUT");
        this.pinConfig[pin] = PinMode.OUTPUT;
        return;
      case PinMode.PWM:
        if (!map.isPwm(pin)) return;
        pins.pinMode(pin, "OUTPUT");
        pins.analogWrite(pin, 0);
        this.pinConfig[pin] = PinMode.PWM;
        return;
      case PinMode.SERVO:
        if (!map.isDigital(pin)) return;
        this.pinConfig[pin] = PinMode.SERVO;
        if (!this.attachedServos.has(pin)) this.attachServo(pin);
        return;
      case PinMode.I2C:
        if (map.isI2c(pin)) this.pinConfig[pin] = PinMode.I2C;
        return;
      case PinMode.SERIAL:
        // SerialFirmata.handlePinMode records the mode on any pin; a port opens only with SERIAL_CONFIG.
        this.pinConfig[pin] = PinMode.SERIAL;
        return;
      default:
        this.sendString("Unknown pin mode");
    }
  }

  /** analogWriteCallback: PWM and servo pins take the value; other modes ignore it. */
  analogWrite(pin: number, value: number): void {
    if (pin >= this.map.totalPins) return;
    if (this.pinConfig[pin] === PinMode.SERVO) {
      if (this.map.isDigital(pin)) this.pins.servoWrite(pin, value);
      this.pinState[pin] = value;
    } else if (this.pinConfig[pin] === PinMode.PWM) {
      if (this.map.isPwm(pin)) this.pins.analogWrite(pin, value);
      this.pinState[pin] = value;
    }
  }

  attachServo(pin: number): void {
    if (this.attachedServos.size >= this.map.maxServos) {
      this.sendString("Max servos attached");
      return;
    }
    this.attachedServos.add(pin);
    this.pins.attachServo(pin);
  }

  detachServo(pin: number): void {
    if (this.attachedServos.delete(pin)) this.pins.detachServo(pin);
  }

  /**
   * digitalWriteCallback: OUTPUT pins take their bit; an INPUT pin written 1 gets its pull-up (a later 0 only
   * clears pinState, the pull-up stays); pins in any other mode are left alone.
   */
  private digitalWrite(port: number, value: number): void {
    if (port >= this.portConfigInputs.length) return;
    let writeMask = 0;
    for (let bit = 0; bit < 8; bit++) {
      const pin = port * 8 + bit;
      const mode = this.pinConfig[pin];
      if (!this.map.isDigital(pin) || (mode !== PinMode.OUTPUT && mode !== PinMode.INPUT)) continue;
      const level = (value >> bit) & 1;
      if (mode === PinMode.OUTPUT) writeMask |= 1 << bit;
      else if (level === 1 && this.pinState[pin] !== 1) this.pins.pinMode(pin, "INPUT_PULLUP");
      this.pinState[pin] = level;
    }
    this.pins.writePort(port, value & 0xff, writeMask);
  }

  /** setPinValueCallback (SET_DIGITAL_PIN_VALUE): OUTPUT pins only; it never touches a pull-up. */
  private setPinValue(pin: number, value: number): void {
    if (pin >= this.map.totalPins || !this.map.isDigital(pin) || this.pinConfig[pin] !== PinMode.OUTPUT) return;
    this.pinState[pin] = value;
    this.pins.digitalWrite(pin, value);
  }

  /** reportAnalogCallback: enabling sends the channel's value at once, except while the board resets. */
  private reportAnalog(channel: number, enabled: boolean): void {
    if (channel >= this.map.totalAnalogPins) return;
    if (!enabled) {
      this.analogInputsToReport &= ~(1 << channel);
      return;
    }
    this.analogInputsToReport |= 1 << channel;
    if (!this.isResetting) this.send(analogMessage(channel, this.pins.analogRead(channel)));
  }

  /** reportDigitalCallback: enabling sends the port's input bits at once (Firmata 2.4 and later). */
  private reportDigital(port: number, enabled: boolean): void {
    if (port >= this.reportPins.length) return;
    this.reportPins[port] = enabled;
    if (enabled) this.outputPort(port, true);
  }

  /** outputPort: only bits of pins configured as inputs, and only when changed unless forced. */
  private outputPort(port: number, force: boolean): void {
    const inputs = this.portConfigInputs[port]!;
    const value = this.pins.readPort(port, inputs) & inputs;
    if (!force && this.previousPins[port] === value) return;
    this.send(digitalPortMessage(port, value));
    this.previousPins[port] = value;
  }

  private sampleAnalogInputs(): void {
    for (let pin = 0; pin < this.map.totalPins; pin++) {
      if (!this.map.isAnalog(pin) || this.pinConfig[pin] !== PinMode.ANALOG) continue;
      const channel = this.map.pinToAnalog(pin);
      if ((this.analogInputsToReport & (1 << channel)) !== 0) {
        this.send(analogMessage(channel, this.pins.analogRead(channel)));
      }
    }
  }

  /**
   * systemResetCallback: reporting off, analog pins to ANALOG, other digital pins to OUTPUT (which detaches their
   * servos). An output left high stays high: OUTPUT drives low only a pin leaving PWM.
   */
  private systemReset(): void {
    this.isResetting = true;
    this.reportPins.fill(false);
    this.portConfigInputs.fill(0);
    this.previousPins.fill(0);
    for (let pin = 0; pin < this.map.totalPins; pin++) {
      if (this.map.isAnalog(pin)) this.setPinMode(pin, PinMode.ANALOG);
      else if (this.map.isDigital(pin)) this.setPinMode(pin, PinMode.OUTPUT);
    }
    this.analogInputsToReport = 0;
    this.isResetting = false;
  }
}
