import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { systemClock, type Clock } from "../../core/sources.ts";
import { AvrPins } from "./avr-pins.ts";
import { FirmataParser } from "./firmata-parser.ts";
import { StandardFirmata } from "./standard-firmata.ts";
import { createSerialLinkPair, type SerialLinkEnd } from "./serial-link-pair.ts";
import { unoPinMap } from "./uno-board.ts";

export interface VirtualPinState {
  /** Firmata pin mode (pinConfig), as PIN_STATE_QUERY reports it. */
  mode: number;
  /** Firmata's pin state (pinState): the written value for outputs, the pull-up bit for digital inputs. */
  state: number;
  /** The chip's pull-up on this pin is on. */
  pullup: boolean;
  /** A button on this pin is held down. */
  pressed: boolean;
}

export interface OutputEdge {
  on: boolean;
  atMs: number;
}

export interface VirtualFirmataBoardOptions {
  /** Stamps output edges. */
  clock?: Clock;
  /** REPORT_FIRMWARE's name. Default "StandardFirmata.ino", the sketch's file name as the firmware reports it. */
  firmwareName?: string;
  /**
   * An Uno resets when the port opens and its firmware announces itself; a board on a Pi UART without
   * auto-reset stays silent until asked. Default true.
   */
  announceOnStart?: boolean;
  /** Per pin; the oldest edges go first. Default 1000. */
  historyEdgesMax?: number;
}

/**
 * An Arduino Uno running StandardFirmata 2.5 at the other end of a serial link: the sketch's logic
 * (standard-firmata.ts) over simulated pins (avr-pins.ts), reading the host's bytes with the firmware's parser.
 * Nothing in it runs on a timer: the board answers when bytes arrive or a button changes, and its millis() (analog
 * sampling) moves only through elapse(). Tests read LEDs and the buzzer off its pins.
 */
export class VirtualFirmataBoard {
  private readonly clock: Clock;
  private pins: AvrPins;
  private firmware: StandardFirmata;
  private readonly parser = new FirmataParser();
  private readonly lit: boolean[] = new Array<boolean>(unoPinMap.totalPins).fill(false);
  private readonly history = new Map<number, OutputEdge[]>();
  private readonly changes = new EventEmitter();
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  private started = false;

  constructor(
    private readonly link: Duplex,
    private readonly options: VirtualFirmataBoardOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.changes.setMaxListeners(0);
    this.pins = new AvrPins(unoPinMap.totalPins, unoPinMap.totalAnalogPins, unoPinMap.isPwm);
    this.firmware = this.createFirmware();
  }

  /** A started board on a fresh in-memory link; hand `transport` to HubPanel. */
  static withLink(options: VirtualFirmataBoardOptions = {}): { board: VirtualFirmataBoard; transport: SerialLinkEnd } {
    const { host, device } = createSerialLinkPair();
    const board = new VirtualFirmataBoard(device, options);
    board.start();
    return { board, transport: host };
  }

  /** Powers the board up: setup() runs, announcing the version and firmware unless disabled. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.pins = this.pins.powerCycled();
    this.firmware = this.createFirmware();
    this.link.on("data", this.onData);
    this.firmware.boot(this.options.announceOnStart ?? true);
    this.settle();
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.link.off("data", this.onData);
  }

  pinState(pin: number): Readonly<VirtualPinState> {
    this.assertPin(pin);
    return {
      mode: this.firmware.pinConfig[pin]!,
      state: this.firmware.pinState[pin]!,
      pullup: this.pins.pullupEnabled(pin),
      pressed: this.pins.isPressed(pin),
    };
  }

  /** Lit: the pin drives current out, high or with a PWM duty above zero. */
  ledOn(pin: number): boolean {
    this.assertPin(pin);
    return this.pins.isLit(pin);
  }

  /** Every on/off change of the pin as an output, with the board's clock: the buzzer's history on its pin. */
  outputHistory(pin: number): readonly OutputEdge[] {
    return [...(this.history.get(pin) ?? [])];
  }

  /** Bytes from the host that made no message (see FirmataParser). */
  get droppedBytes(): number {
    return this.parser.droppedBytes;
  }

  pressButton(pin: number): void {
    this.setPressed(pin, true);
  }

  releaseButton(pin: number): void {
    this.setPressed(pin, false);
  }

  /** What the sensor on analog channel `channel` (A0 = 0) reads, 0–1023. */
  setAnalogInput(channel: number, value: number): void {
    this.pins.setAnalogInput(channel, value);
  }

  /** Moves the firmware's millis() on: reported analog channels are sampled every sampling interval. */
  elapse(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`elapse takes a non-negative duration, not ${ms} ms`);
    this.firmware.elapse(ms);
    this.settle();
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

  private createFirmware(): StandardFirmata {
    return new StandardFirmata(this.pins, unoPinMap, {
      firmwareName: this.options.firmwareName ?? "StandardFirmata.ino",
      send: (bytes) => this.send(bytes),
    });
  }

  private receive(chunk: Buffer): void {
    for (const message of this.parser.push(chunk)) this.firmware.handle(message);
    this.settle();
  }

  private setPressed(pin: number, pressed: boolean): void {
    this.assertPin(pin);
    this.pins.setPressed(pin, pressed);
    this.settle();
  }

  /** The next pass of loop() reports changed inputs; then the pins are looked at for output edges. */
  private settle(): void {
    if (this.started) this.firmware.checkDigitalInputs();
    this.recordEdges();
    this.changes.emit("change");
  }

  private recordEdges(): void {
    const atMs = this.clock.nowMs();
    const edgesMax = this.options.historyEdgesMax ?? 1000;
    for (let pin = 0; pin < this.lit.length; pin++) {
      const on = this.pins.isLit(pin);
      if (on === this.lit[pin]) continue;
      this.lit[pin] = on;
      const edges = this.history.get(pin) ?? [];
      edges.push({ on, atMs });
      if (edges.length > edgesMax) edges.splice(0, edges.length - edgesMax);
      this.history.set(pin, edges);
    }
  }

  private send(bytes: number[]): void {
    if (!this.started || this.link.destroyed) return;
    this.link.write(Buffer.from(bytes));
  }

  private assertPin(pin: number): void {
    if (!Number.isInteger(pin) || pin < 0 || pin >= unoPinMap.totalPins) {
      throw new RangeError(`the virtual board has no pin ${pin}`);
    }
  }
}
