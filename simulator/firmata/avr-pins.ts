/** Arduino's pinMode() argument. */
export type ArduinoPinMode = "INPUT" | "INPUT_PULLUP" | "OUTPUT";

interface PinHardware {
  /** Data direction: the output driver is on. */
  output: boolean;
  /** The PORT bit: the driven level of an output, the pull-up of an input. */
  portHigh: boolean;
  /** The compare value while the pin's timer drives it; null when it is a plain digital pin. */
  pwmDuty: number | null;
  /** The Servo library's last write while attached; null when no servo is attached. */
  servoValue: number | null;
  /** A push button on the pin is held down. */
  pressed: boolean;
}

/** analogRead's range on a 10-bit ADC. */
export const analogValueMax = 1023;

/**
 * The microcontroller's pins as the Arduino core on an AVR drives them, plus what is wired to them (buttons and
 * analog sensors). pinMode(INPUT) clears the pull-up (Arduino ≥ 1.0.1), pinMode(OUTPUT) keeps the PORT bit,
 * digitalWrite ends PWM, analogWrite makes the pin an output and writes 0 and 255 (and any value on a pin
 * without a timer) as plain levels.
 */
export class AvrPins {
  private readonly pins: PinHardware[];
  private readonly analogInputs: number[];

  constructor(pinCount: number, analogChannelCount: number, private readonly hasPwm: (pin: number) => boolean) {
    this.pins = Array.from({ length: pinCount }, () => ({
      output: false,
      portHigh: false,
      pwmDuty: null,
      servoValue: null,
      pressed: false,
    }));
    this.analogInputs = new Array<number>(analogChannelCount).fill(0);
  }

  get count(): number {
    return this.pins.length;
  }

  /** The chip after a power cycle (every pin an input without pull-up), still wired to the same buttons and sensors. */
  powerCycled(): AvrPins {
    const next = new AvrPins(this.pins.length, this.analogInputs.length, this.hasPwm);
    this.pins.forEach((hardware, pin) => next.setPressed(pin, hardware.pressed));
    this.analogInputs.forEach((value, channel) => next.setAnalogInput(channel, value));
    return next;
  }

  pinMode(pin: number, mode: ArduinoPinMode): void {
    const hardware = this.pin(pin);
    hardware.output = mode === "OUTPUT";
    if (mode !== "OUTPUT") hardware.portHigh = mode === "INPUT_PULLUP";
  }

  digitalWrite(pin: number, level: number): void {
    const hardware = this.pin(pin);
    hardware.pwmDuty = null;
    hardware.portHigh = level !== 0;
  }

  analogWrite(pin: number, value: number): void {
    this.pinMode(pin, "OUTPUT");
    if (value === 0 || value === 255 || !this.hasPwm(pin)) {
      this.digitalWrite(pin, value >= 128 ? 1 : 0);
      return;
    }
    // The compare register is 8 bits wide: larger values keep only their low byte.
    this.pin(pin).pwmDuty = value & 0xff;
  }

  /** Boards.h writePort: sets the PORT bits under `mask` straight in the register. */
  writePort(port: number, value: number, mask: number): void {
    for (let bit = 0; bit < 8; bit++) {
      const hardware = this.pins[port * 8 + bit];
      if (hardware !== undefined && (mask & (1 << bit)) !== 0) hardware.portHigh = (value & (1 << bit)) !== 0;
    }
  }

  /** Boards.h readPort: the levels of the pins under `mask`, one bit each. */
  readPort(port: number, mask: number): number {
    let value = 0;
    for (let bit = 0; bit < 8; bit++) {
      const pin = port * 8 + bit;
      if (pin < this.pins.length && (mask & (1 << bit)) !== 0) value |= this.digitalRead(pin) << bit;
    }
    return value;
  }

  /**
   * An output reads what it drives. An input reads its button: wired to ground when the pull-up is on (pressed
   * reads low), to the supply through an external pull-down otherwise (pressed reads high).
   */
  digitalRead(pin: number): number {
    const hardware = this.pin(pin);
    if (hardware.output) return hardware.portHigh ? 1 : 0;
    return hardware.pressed !== hardware.portHigh ? 1 : 0;
  }

  analogRead(channel: number): number {
    return this.analogInputs[channel] ?? 0;
  }

  attachServo(pin: number): void {
    this.pinMode(pin, "OUTPUT");
    this.pin(pin).servoValue = 0;
  }

  detachServo(pin: number): void {
    this.pin(pin).servoValue = null;
  }

  servoWrite(pin: number, value: number): void {
    const hardware = this.pin(pin);
    if (hardware.servoValue !== null) hardware.servoValue = value;
  }

  setPressed(pin: number, pressed: boolean): void {
    this.pin(pin).pressed = pressed;
  }

  setAnalogInput(channel: number, value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > analogValueMax) {
      throw new RangeError(`an analog input reads 0 to ${analogValueMax}, not ${value}`);
    }
    if (channel < 0 || channel >= this.analogInputs.length) throw new RangeError(`no analog channel ${channel}`);
    this.analogInputs[channel] = value;
  }

  /** Driving current out: a steady high or a PWM duty above zero (an LED on the pin is lit). */
  isLit(pin: number): boolean {
    const hardware = this.pin(pin);
    if (!hardware.output || hardware.servoValue !== null) return false;
    return hardware.pwmDuty !== null ? hardware.pwmDuty > 0 : hardware.portHigh;
  }

  pullupEnabled(pin: number): boolean {
    const hardware = this.pin(pin);
    return !hardware.output && hardware.portHigh;
  }

  isPressed(pin: number): boolean {
    return this.pin(pin).pressed;
  }

  private pin(pin: number): PinHardware {
    const hardware = this.pins[pin];
    if (hardware === undefined) throw new RangeError(`the board has no pin ${pin}`);
    return hardware;
  }
}
