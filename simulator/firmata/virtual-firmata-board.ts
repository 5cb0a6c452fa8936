import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { logger } from "../../protocol/log.ts";
import { systemClock, type Clock } from "../../protocol/sources.ts";
import { Firmata, FirmataDecoder, PinMode, type HostCommand } from "./firmata-decoder.ts";
import { createSerialLinkPair, type SerialLinkEnd } from "./serial-link-pair.ts";

const log = logger("tapwire:sim:firmata");

/** What one pin can do: Firmata mode → resolution in bits, as in a CAPABILITY_RESPONSE. */
export interface PinCapability {
  modes: ReadonlyMap<number, number>;
  analogChannel: number | null;
}

/**
 * An Arduino Uno running StandardFirmata 2.5: pins 0 and 1 are the UART and report no modes; 2–19 are digital;
 * 3, 5, 6, 9, 10, 11 have PWM; 14–19 are analog inputs A0–A5; 18 and 19 are I2C.
 */
export function unoCapabilities(): PinCapability[] {
  const pwmPins = new Set([3, 5, 6, 9, 10, 11]);
  return Array.from({ length: 20 }, (_, pin) => {
    const modes = new Map<number, number>();
    if (pin >= 2) {
      modes.set(PinMode.INPUT, 1).set(PinMode.PULLUP, 1).set(PinMode.OUTPUT, 1);
      if (pin >= 14) modes.set(PinMode.ANALOG, 10);
      if (pwmPins.has(pin)) modes.set(PinMode.PWM, 8);
      modes.set(PinMode.SERVO, 14);
      if (pin >= 18) modes.set(PinMode.I2C, 1);
    }
    return { modes, analogChannel: pin >= 14 ? pin - 14 : null };
  });
}

export interface VirtualPinState {
  /** Firmata pin mode (see PinMode), or null for a pin with no modes (the UART pins). */
  mode: number | null;
  /** Firmata's pin state: the written value for outputs, the pull-up bit for digital inputs. */
  state: number;
  pullup: boolean;
  /** A button on this pin is held down. */
  pressed: boolean;
}

export interface OutputEdge {
  on: boolean;
  atMs: number;
}

export interface VirtualFirmataBoardOptions {
  clock?: Clock;
  firmwareName?: string;
  /**
   * An Uno resets when the port opens and its firmware announces itself; a board on a Pi UART without
   * auto-reset stays silent until asked. Default true.
   */
  announceOnStart?: boolean;
  /** Per pin; the oldest edges go first. Default 1000. */
  historyEdgesMax?: number;
}

const firmwareVersion = { major: 2, minor: 5 } as const;
const digitalPortCount = 16;

/**
 * The device side of a Firmata link, speaking the real protocol: handshake (REPORT_VERSION, QUERY_FIRMWARE,
 * CAPABILITY_QUERY, ANALOG_MAPPING_QUERY), pin modes, digital and PWM writes, digital reporting and
 * PIN_STATE_QUERY, with StandardFirmata's semantics (writing 1 to an input enables its pull-up; a button
 * pulls a pulled-up input low). Tests and the simulator read LEDs and the buzzer off its pins.
 */
export class VirtualFirmataBoard {
  private readonly clock: Clock;
  private readonly capabilities = unoCapabilities();
  private readonly pins: VirtualPinState[] = [];
  private readonly history = new Map<number, OutputEdge[]>();
  private readonly reportingPorts = new Set<number>();
  private readonly lastReported = new Map<number, number>();
  private readonly changes = new EventEmitter();
  private readonly decoder = new FirmataDecoder();
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  private started = false;

  constructor(
    private readonly link: Duplex,
    private readonly options: VirtualFirmataBoardOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.changes.setMaxListeners(0);
  }

  /** A started board on a fresh in-memory link; hand `transport` to HubPanel. */
  static withLink(options: VirtualFirmataBoardOptions = {}): { board: VirtualFirmataBoard; transport: SerialLinkEnd } {
    const { host, device } = createSerialLinkPair();
    const board = new VirtualFirmataBoard(device, options);
    board.start();
    return { board, transport: host };
  }

  /** Boots the firmware: pins to their reset state, then the version announcement unless disabled. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.resetPins();
    this.link.on("data", this.onData);
    if (this.options.announceOnStart ?? true) {
      this.sendVersion();
      this.sendFirmware();
    }
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.link.off("data", this.onData);
  }

  pinState(pin: number): Readonly<VirtualPinState> {
    return { ...this.pin(pin) };
  }

  /** Lit: driven as a digital or PWM output with a non-zero value. */
  ledOn(pin: number): boolean {
    const { mode, state } = this.pin(pin);
    return (mode === PinMode.OUTPUT || mode === PinMode.PWM) && state > 0;
  }

  /** Every on/off change of the pin as an output, with the board's clock: the buzzer's history on its pin. */
  outputHistory(pin: number): readonly OutputEdge[] {
    return [...(this.history.get(pin) ?? [])];
  }

  /** Decoder statistics: bytes the board could not make sense of. */
  get droppedBytes(): number {
    return this.decoder.droppedBytes;
  }

  pressButton(pin: number): void {
    this.setPressed(pin, true);
  }

  releaseButton(pin: number): void {
    this.setPressed(pin, false);
  }

  /** Resolves once `predicate` holds, checked after every change; GpioTimeout after `timeoutMs`. */
  waitUntil(predicate: () => boolean, timeoutMs: number): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.changes.off("change", check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.changes.off("change", check);
        reject(new TapwireError(`virtual board condition not met within ${timeoutMs} ms`, ErrorCode.GpioTimeout));
      }, timeoutMs);
      this.changes.on("change", check);
    });
  }

  private pin(pin: number): VirtualPinState {
    const state = this.pins[pin];
    if (state === undefined) throw new RangeError(`the virtual board has no pin ${pin}`);
    return state;
  }

  private receive(chunk: Buffer): void {
    for (const command of this.decoder.push(chunk)) this.execute(command);
    this.changes.emit("change");
  }

  private execute(command: HostCommand): void {
    switch (command.kind) {
      case "reportVersion":
        return this.sendVersion();
      case "systemReset":
        return this.resetPins();
      case "pinMode":
        return this.setMode(command.pin, command.mode);
      case "digitalPort":
        return this.writePort(command.port, command.value);
      case "analogWrite":
        return this.writeAnalog(command.pin, command.value);
      case "reportDigital":
        return this.setReporting(command.port, command.enabled);
      case "reportAnalog":
        // No analog sensors are modelled, so there is nothing to stream.
        return;
      case "sysex":
        return this.executeSysex(command.command, command.data);
    }
  }

  private executeSysex(command: number, data: number[]): void {
    switch (command) {
      case Firmata.QUERY_FIRMWARE:
        return this.sendFirmware();
      case Firmata.CAPABILITY_QUERY:
        return this.sendCapabilities();
      case Firmata.ANALOG_MAPPING_QUERY:
        return this.sendAnalogMapping();
      case Firmata.PIN_STATE_QUERY:
        return this.sendPinState(data[0] ?? 0);
      default:
        log.debug({ command }, "sysex command not modelled; ignored");
    }
  }

  /** StandardFirmata's systemResetCallback: analog pins to ANALOG, digital pins to OUTPUT low, no reporting. */
  private resetPins(): void {
    this.reportingPorts.clear();
    this.lastReported.clear();
    this.capabilities.forEach((capability, pin) => {
      const previous = this.pins[pin];
      const mode = capability.modes.has(PinMode.ANALOG)
        ? PinMode.ANALOG
        : capability.modes.has(PinMode.OUTPUT)
          ? PinMode.OUTPUT
          : null;
      this.pins[pin] = { mode, state: 0, pullup: false, pressed: previous?.pressed ?? false };
      if (previous !== undefined) this.recordEdge(pin, previous);
    });
  }

  private setMode(pin: number, mode: number): void {
    const state = this.pins[pin];
    if (state === undefined || !this.capabilities[pin]!.modes.has(mode)) {
      this.sendString("Unknown pin mode");
      return;
    }
    const before = { ...state };
    state.mode = mode;
    state.state = 0;
    state.pullup = mode === PinMode.PULLUP;
    if (mode === PinMode.PULLUP) state.state = 1;
    this.recordEdge(pin, before);
    this.reportPortIfChanged(pin >> 3);
  }

  /**
   * StandardFirmata's digitalWriteCallback: output pins take their bit; an input pin written 1 gets its pull-up
   * (writing 0 later does not remove it); pins in other modes ignore the port write.
   */
  private writePort(port: number, value: number): void {
    for (let bit = 0; bit < 8; bit++) {
      const pin = port * 8 + bit;
      const state = this.pins[pin];
      if (state === undefined) continue;
      const level = (value >> bit) & 1;
      if (state.mode === PinMode.OUTPUT) {
        const before = { ...state };
        state.state = level;
        this.recordEdge(pin, before);
      } else if (state.mode === PinMode.INPUT) {
        if (level === 1) state.pullup = true;
        state.state = level;
      }
    }
    this.reportPortIfChanged(port);
  }

  private writeAnalog(pin: number, value: number): void {
    const state = this.pins[pin];
    if (state === undefined || (state.mode !== PinMode.PWM && state.mode !== PinMode.SERVO)) return;
    const before = { ...state };
    state.state = value;
    this.recordEdge(pin, before);
  }

  private setReporting(port: number, enabled: boolean): void {
    if (port >= digitalPortCount) return;
    if (!enabled) {
      this.reportingPorts.delete(port);
      return;
    }
    this.reportingPorts.add(port);
    this.sendDigitalPort(port);
  }

  private setPressed(pin: number, pressed: boolean): void {
    this.pin(pin).pressed = pressed;
    this.reportPortIfChanged(pin >> 3);
    this.changes.emit("change");
  }

  /** A button pulls a pulled-up input to ground; without the pull-up it is wired to the supply. */
  private inputLevel(state: VirtualPinState): number {
    return state.pressed !== state.pullup ? 1 : 0;
  }

  private portInputs(port: number): number {
    let value = 0;
    for (let bit = 0; bit < 8; bit++) {
      const state = this.pins[port * 8 + bit];
      if (state !== undefined && (state.mode === PinMode.INPUT || state.mode === PinMode.PULLUP)) {
        value |= this.inputLevel(state) << bit;
      }
    }
    return value;
  }

  private reportPortIfChanged(port: number): void {
    if (!this.reportingPorts.has(port) || this.lastReported.get(port) === this.portInputs(port)) return;
    this.sendDigitalPort(port);
  }

  private recordEdge(pin: number, before: VirtualPinState): void {
    const on = this.ledOn(pin);
    const wasOn = (before.mode === PinMode.OUTPUT || before.mode === PinMode.PWM) && before.state > 0;
    if (on === wasOn) return;
    const edges = this.history.get(pin) ?? [];
    edges.push({ on, atMs: this.clock.nowMs() });
    const edgesMax = this.options.historyEdgesMax ?? 1000;
    if (edges.length > edgesMax) edges.splice(0, edges.length - edgesMax);
    this.history.set(pin, edges);
  }

  private send(bytes: number[]): void {
    if (!this.started || this.link.destroyed) return;
    this.link.write(Buffer.from(bytes));
  }

  private sendVersion(): void {
    this.send([Firmata.REPORT_VERSION, firmwareVersion.major, firmwareVersion.minor]);
  }

  private sendFirmware(): void {
    const name = Buffer.from(this.options.firmwareName ?? "StandardFirmata.ino", "ascii");
    const encoded = [...name].flatMap((byte) => [byte & 0x7f, (byte >> 7) & 0x7f]);
    this.send([
      Firmata.START_SYSEX,
      Firmata.QUERY_FIRMWARE,
      firmwareVersion.major,
      firmwareVersion.minor,
      ...encoded,
      Firmata.END_SYSEX,
    ]);
  }

  private sendCapabilities(): void {
    const entries = this.capabilities.flatMap((capability) => [
      ...[...capability.modes].flatMap(([mode, resolution]) => [mode, resolution]),
      Firmata.NONE,
    ]);
    this.send([Firmata.START_SYSEX, Firmata.CAPABILITY_RESPONSE, ...entries, Firmata.END_SYSEX]);
  }

  private sendAnalogMapping(): void {
    const channels = this.capabilities.map((capability) => capability.analogChannel ?? Firmata.NONE);
    this.send([Firmata.START_SYSEX, Firmata.ANALOG_MAPPING_RESPONSE, ...channels, Firmata.END_SYSEX]);
  }

  private sendPinState(pin: number): void {
    const state = this.pins[pin];
    if (state === undefined) return;
    const value = state.state;
    const valueBytes = [value & 0x7f];
    for (let rest = value >> 7; rest > 0; rest >>= 7) valueBytes.push(rest & 0x7f);
    this.send([
      Firmata.START_SYSEX,
      Firmata.PIN_STATE_RESPONSE,
      pin,
      state.mode ?? Firmata.NONE,
      ...valueBytes,
      Firmata.END_SYSEX,
    ]);
  }

  private sendDigitalPort(port: number): void {
    const value = this.portInputs(port);
    this.lastReported.set(port, value);
    this.send([Firmata.DIGITAL_MESSAGE | port, value & 0x7f, (value >> 7) & 0x7f]);
  }

  private sendString(text: string): void {
    const encoded = [...Buffer.from(text, "ascii")].flatMap((byte) => [byte & 0x7f, (byte >> 7) & 0x7f]);
    this.send([Firmata.START_SYSEX, Firmata.STRING_DATA, ...encoded, Firmata.END_SYSEX]);
  }
}
