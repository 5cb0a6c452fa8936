import { logger } from "../../core/log.ts";
import type { SerialDevice } from "../serial/serial-device.ts";
import { ChipState, ParameterFlag, type HostLink } from "./chip-state.ts";
import type { FieldDevice } from "./field.ts";
import {
  dcsOffset,
  encodeAck,
  encodeInformation,
  encodeNack,
  encodeSyntaxError,
  HostFrameReader,
  tfiFromHost,
  tfiToHost,
  type FrameStyle,
  type HostLinkEvent,
} from "./frame-codec.ts";
import { InitiatorRole } from "./initiator-commands.ts";
import { SystemCommands } from "./system-commands.ts";
import { TargetRole } from "./target-commands.ts";

const log = logger("tapwire:sim:pn532");

/** Fault switches, zwave-js style: counters apply to the next N occurrences, then switch themselves off. */
export interface Pn532Faults {
  /** Garbage bytes before each of the next N frames the chip sends (ACKs included). */
  garbageBeforeFrames: number;
  /** The next N commands are answered with a NACK instead of an ACK (and not executed). */
  nackCommands: number;
  /** The next N responses (retransmissions included) go out with a wrong DCS. */
  badChecksumResponses: number;
  /** Every frame goes out one byte per event-loop turn. */
  splitChunks: boolean;
  /** The next N commands get no answer at all. */
  silentCommands: number;
  /** The card leaves the field as the host sends the Nth InDataExchange from now (0 = off). */
  removeTargetAtApdu: number;
  /** The next N commands are ACKed, then answered with the application error frame. */
  applicationErrorCommands: number;
}

/** Every switch off: a chip in good health. */
export const healthyPn532: Readonly<Pn532Faults> = Object.freeze({
  garbageBeforeFrames: 0,
  nackCommands: 0,
  badChecksumResponses: 0,
  splitChunks: false,
  silentCommands: 0,
  removeTargetAtApdu: 0,
  applicationErrorCommands: 0,
});

export interface WireRecord {
  direction: "host" | "device";
  bytes: Uint8Array;
}

/** Records kept of the bytes on the wire; older ones are dropped. */
export const wireRecordsMax = 512;
const garbage = Uint8Array.of(0x55, 0x13, 0x00, 0xff, 0x7e, 0x00);

interface SentResponse {
  frame: Uint8Array;
  /** Where a bad-checksum fault flips a byte; undefined for the error frame, which faults leave alone. */
  dcsAt: number | undefined;
}

/**
 * A PN532 (firmware V1.6) on the device side of a serial link, for host stacks written by anyone: it reads the host's
 * frames with its own codec (frame-codec.ts), ACKs them, runs the command set of UM0701-02 §7 against the register
 * file and whatever is in its field (a card or HCE phone to read, a phone in reader mode to present a tag to), and
 * answers as the chip does — status bytes, the syntax error frame, silence on a bad checksum, the last response again
 * on NACK. It starts asleep in LowVBat: the first byte on HSU wakes it and is lost. No timers: a command that waits
 * for the field (InListPassiveTarget, InAutoPoll, TgInitAsTarget, TgGetData) answers when the field changes.
 */
export class VirtualPn532 implements SerialDevice {
  readonly faults: Pn532Faults = { ...healthyPn532 };
  readonly wire: WireRecord[] = [];
  /** Commands the chip executed, by code. */
  readonly commandsSeen: number[] = [];
  private readonly chip = new ChipState();
  private readonly reader = new HostFrameReader();
  private readonly link: HostLink = {
    respond: (data) => this.respond(data),
    syntaxError: () => this.sendSyntaxError(),
    hold: (attempt) => this.hold(attempt),
    retryHeld: () => this.retryHeld(),
    currentCommand: () => this.commandSeq,
  };
  private readonly initiator: InitiatorRole;
  private readonly target: TargetRole;
  private readonly handlers: ReadonlyMap<number, (params: Uint8Array) => void>;
  private toHost: ((bytes: Uint8Array) => void) | undefined;
  private held: (() => boolean) | undefined;
  private lastResponse: SentResponse | undefined;
  private outgoing: Promise<void> = Promise.resolve();
  /** Bumped by every command and abort, so a slow card's answer to an aborted command is dropped. */
  private commandSeq = 0;

  constructor() {
    this.initiator = new InitiatorRole(this.chip, this.link, {
      stopTargetEmulation: () => this.target.stop(),
      beforeDataExchange: () => this.removeTargetIfDue(),
    });
    this.target = new TargetRole(this.chip, this.link, () => this.initiator.releaseAll());
    const system = new SystemCommands(this.chip, this.link, this.initiator, this.target);
    this.handlers = new Map([...system.handlers, ...this.initiator.handlers, ...this.target.handlers]);
  }

  /** The HSU rate the chip uses now (SetSerialBaudRate changes it once the host ACKs the response). */
  get serialBaudRateBps(): number {
    return this.chip.serialBaudRateBps;
  }

  /** Sets the faults the chip shows on its UART (garbage, bad checksums, silence, hangs). */
  setFaults(faults: Partial<Pn532Faults>): void {
    Object.assign(this.faults, faults);
  }

  /** A phone or card enters the RF field. */
  placeInField(device: FieldDevice): void {
    this.removeFromField();
    this.chip.field = device;
    this.chip.readerActivated = false;
    // A reader's field wakes a chip powered down with the RF level detector as a wake-up source.
    if (device.role === "reader" && this.chip.power.asleep && this.chip.power.wakeOnRfField) this.wake();
    this.retryHeld();
  }

  /** It leaves the field. */
  removeFromField(): void {
    this.chip.field = undefined;
    this.target.readerLeft();
  }

  connect(toHost: (bytes: Uint8Array) => void): void {
    this.toHost = toHost;
  }

  /** The host closed the link. */
  disconnect(): void {
    this.toHost = undefined;
    this.held = undefined;
    this.reader.reset();
  }

  receive(bytes: Uint8Array): void {
    this.record("host", bytes);
    for (const byte of bytes) {
      if (!this.chip.power.asleep) {
        const event = this.reader.feed(byte);
        if (event) this.onHostEvent(event);
      } else if (this.chip.power.wakeOnHsu) {
        this.wake();
      }
    }
    if (this.chip.power.sleepRequested) this.fallAsleep();
  }

  private fallAsleep(): void {
    this.chip.power.sleepRequested = false;
    this.chip.power.asleep = true;
    this.reader.reset();
  }

  /** The byte that wakes the chip is lost; hosts send `55 55 00 00 00…` first for this (libnfc `pn532_uart_wakeup`). */
  private wake(): void {
    this.chip.power.asleep = false;
    this.reader.reset();
  }

  private onHostEvent(event: HostLinkEvent): void {
    switch (event.kind) {
      case "ack":
        return this.onAck();
      case "nack":
        if (this.lastResponse) this.send(this.lastResponse);
        return;
      case "dropped":
        log.debug({ reason: event.reason }, "host frame dropped without an answer");
        return;
      case "information":
        // A frame that is not a host command (wrong TFI, no command code) is ACKed, then refused as a syntax error.
        return this.command(event.tfi === tfiFromHost ? event.data[0] : undefined, event.data.subarray(1));
    }
  }

  /** An ACK from the host aborts the command in progress (§6.2.1.3) and confirms a baud rate change (§7.2.8). */
  private onAck(): void {
    this.commandSeq++;
    this.held = undefined;
    const rateBps = this.chip.pendingBaudRateBps;
    this.chip.pendingBaudRateBps = undefined;
    if (rateBps !== undefined) this.chip.serialBaudRateBps = rateBps;
  }

  private command(code: number | undefined, params: Uint8Array): void {
    this.commandSeq++;
    this.held = undefined;
    this.chip.pendingBaudRateBps = undefined;
    if (this.faults.silentCommands > 0) {
      this.faults.silentCommands--;
      return;
    }
    if (this.faults.nackCommands > 0) {
      this.faults.nackCommands--;
      this.send({ frame: encodeNack(this.style()), dcsAt: undefined });
      return;
    }
    this.send({ frame: encodeAck(this.style()), dcsAt: undefined });
    if (code === undefined) return this.sendSyntaxError();
    this.commandsSeen.push(code);
    if (this.faults.applicationErrorCommands > 0) {
      this.faults.applicationErrorCommands--;
      return this.sendSyntaxError();
    }
    const handler = this.handlers.get(code);
    if (!handler) return this.sendSyntaxError();
    handler(params);
  }

  private hold(attempt: () => boolean): void {
    this.held = attempt;
    this.retryHeld();
  }

  private retryHeld(): void {
    const attempt = this.held;
    if (attempt?.() && this.held === attempt) this.held = undefined;
  }

  private removeTargetIfDue(): void {
    if (this.faults.removeTargetAtApdu > 0 && --this.faults.removeTargetAtApdu === 0) this.removeFromField();
  }

  private style(): FrameStyle {
    return { prePostAmble: !this.chip.has(ParameterFlag.removePrePostAmble) };
  }

  private respond(data: ArrayLike<number>): void {
    const style = this.style();
    const frame = encodeInformation(tfiToHost, data, style);
    this.lastResponse = { frame, dcsAt: dcsOffset(frame, style) };
    this.send(this.lastResponse);
  }

  private sendSyntaxError(): void {
    this.lastResponse = { frame: encodeSyntaxError(this.style()), dcsAt: undefined };
    this.send(this.lastResponse);
  }

  private send({ frame, dcsAt }: SentResponse): void {
    let bytes = frame;
    if (dcsAt !== undefined && this.faults.badChecksumResponses > 0) {
      this.faults.badChecksumResponses--;
      bytes = frame.slice();
      bytes[dcsAt] = (bytes[dcsAt]! + 1) & 0xff;
    }
    if (this.faults.garbageBeforeFrames > 0) {
      this.faults.garbageBeforeFrames--;
      bytes = Uint8Array.from([...garbage, ...bytes]);
    }
    const split = this.faults.splitChunks;
    this.outgoing = this.outgoing.then(async () => {
      const chunks = split ? [...bytes].map((byte) => Uint8Array.of(byte)) : [bytes];
      for (const chunk of chunks) {
        if (split) await new Promise((resolve) => setImmediate(resolve));
        this.record("device", chunk);
        this.toHost?.(chunk);
      }
    });
  }

  private record(direction: WireRecord["direction"], bytes: Uint8Array): void {
    this.wire.push({ direction, bytes: bytes.slice() });
    if (this.wire.length > wireRecordsMax) this.wire.shift();
  }
}
