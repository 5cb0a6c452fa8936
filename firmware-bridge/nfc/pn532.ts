import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import { assertInRanges, type Ranges } from "../../core/ranges.ts";
import { systemClock, systemTimers, type Clock, type Timers } from "../../core/sources.ts";
import type { SerialPortLike } from "../serial/serial-port.ts";
import {
  ackBytes,
  encodeInformationFrame,
  frameBytesMaxDefault,
  nackBytes,
  Pn532FrameParser,
  tfiHostToPn532,
  tfiPn532ToHost,
  type Pn532ParseEvent,
} from "./pn532-frame.ts";

const log = logger("tapwire:nfc:pn532");

export const Pn532Command = {
  GetFirmwareVersion: 0x02,
  SamConfiguration: 0x14,
  InDataExchange: 0x40,
  InListPassiveTarget: 0x4a,
  InRelease: 0x52,
  TgGetData: 0x86,
  TgInitAsTarget: 0x8c,
  TgSetData: 0x8e,
} as const;

/** HSU wake-up (libnfc pn532_uart.c): the chip starts in LowVBat and needs these before SAMConfiguration. */
export const wakeUpPreamble = Uint8Array.of(0x55, 0x55, ...new Array<number>(14).fill(0x00));

/** PN532 status bytes (UM0701-02 table 3.1) that mean the other side left the field or stopped answering. */
const targetLostStatuses = new Set([0x01, 0x02, 0x03, 0x0a, 0x0b, 0x29, 0x2a, 0x2b]);

export interface Pn532Options {
  /** How long the chip has to ACK a command frame. */
  ackTimeoutMs: number;
  /** Default wait for a response after the ACK; long commands take their own timeoutMs. */
  responseTimeoutMs: number;
  /** Resends of a command (or NACKs for a response) after a NACK, bad checksum or missing ACK. */
  retriesMax: number;
  /** First backoff between retries; doubles on each further retry. */
  retryBackoffMs: number;
  /** Commands waiting their turn, beyond which new ones fail with NfcQueueFull. */
  queueLengthMax: number;
  /** Largest frame the parser buffers, preamble to postamble. */
  frameBytesMax: number;
  /** Received parse events held while no command waits for them. */
  inboxLengthMax: number;
  /** Every wait of the driver (ACK, response, write, backoff) runs on these, so a simulation can run it on virtual time. */
  timers: Timers;
  /** Where the deadlines of those waits are read. */
  clock: Clock;
}

/** The numeric options, each checked against its range. */
type Pn532Limits = Omit<Pn532Options, "timers" | "clock">;

export const defaultPn532Options: Pn532Options = {
  ackTimeoutMs: 100,
  responseTimeoutMs: 1_000,
  retriesMax: 3,
  retryBackoffMs: 10,
  queueLengthMax: 8,
  frameBytesMax: frameBytesMaxDefault,
  inboxLengthMax: 32,
  timers: systemTimers,
  clock: systemClock,
};

const optionRanges: Required<Ranges<Pn532Limits>> = {
  ackTimeoutMs: [1, 10_000, "milliseconds"],
  responseTimeoutMs: [1, 600_000, "milliseconds"],
  retriesMax: [0, 10, "retries"],
  retryBackoffMs: [0, 10_000, "milliseconds"],
  queueLengthMax: [1, 1_000, "commands"],
  frameBytesMax: [64, 65_536, "bytes"],
  inboxLengthMax: [4, 1_024, "events"],
};

export function validatePn532Options(partial: Partial<Pn532Options>): Pn532Options {
  return assertInRanges({ ...defaultPn532Options, ...partial }, optionRanges, "PN532 options", "pn532.");
}

export interface CommandOptions {
  /** Response wait for this command (default responseTimeoutMs). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface FirmwareVersion {
  ic: number;
  version: number;
  revision: number;
  support: number;
}

/** An ISO/IEC 14443 type A target found by InListPassiveTarget. */
export interface PassiveTarget {
  /** Logical number the chip gave it, used by InDataExchange and InRelease. */
  tg: number;
  sensRes: Uint8Array;
  selRes: number;
  nfcId: Uint8Array;
  /** Answer to select, present when SEL_RES says ISO/IEC 14443-4 (bit 0x20). */
  ats: Uint8Array;
}

export interface TargetActivation {
  /** Baud rate and protocol bits the chip reports (UM0701-02 §7.3.14). */
  mode: number;
  /** The first command of the reader that activated us (RATS for an ISO-DEP reader). */
  initiatorCommand: Uint8Array;
}

export interface TargetParameters {
  /** Three bytes; the chip forces the first to 0x08 on the air as random-UID marker. */
  nfcId1: Uint8Array;
}

type Waiter = (event: Pn532ParseEvent | "timeout" | "aborted" | "closed") => void;

/**
 * PN532 driver over HSU. One command at a time: flush, write the frame, wait for the ACK (resending on NACK,
 * bad checksum or silence), then wait for the response (NACKing a corrupt one so the chip resends it).
 * A response that never comes is aborted with an ACK frame, as libnfc does, so the chip is free again.
 *
 * Longer than the house's ~300 lines: the command exchange (ACK, NACK, resend, abort) and the commands built on it
 * (wake-up, SAMConfiguration, InListPassiveTarget, InDataExchange, TgInitAsTarget, TgGetData/TgSetData) share one
 * serial state; the frame codec is pn532-frame.ts.
 */
export class Pn532 {
  readonly options: Pn532Options;
  private readonly parser: Pn532FrameParser;
  private readonly inbox: Pn532ParseEvent[] = [];
  private waiter: Waiter | undefined;
  private started = false;
  private closed = false;
  private queueLength = 0;
  private tail: Promise<void> = Promise.resolve();
  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  private readonly onClose = (): void => this.portClosed();

  constructor(
    private readonly port: SerialPortLike,
    options: Partial<Pn532Options> = {},
  ) {
    this.options = validatePn532Options(options);
    this.parser = new Pn532FrameParser(this.options.frameBytesMax);
  }

  /** Listens to the port, wakes the chip and leaves its SAM in normal mode. */
  async start(): Promise<void> {
    assert(!this.started, "Pn532 already started");
    this.started = true;
    this.closed = !this.port.isOpen;
    this.port.on("data", this.onData);
    this.port.on("close", this.onClose);
    await this.enqueue(() => this.transact(Pn532Command.SamConfiguration, Uint8Array.of(0x01), {}, wakeUpPreamble));
  }

  /** Stops listening; the port stays open (whoever opened it closes it). Waiting commands fail. */
  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.port.off("data", this.onData);
    this.port.off("close", this.onClose);
    this.wake("closed");
  }

  /** Started, with no command running or waiting: a health probe sent now delays no sale. */
  get idle(): boolean {
    return this.started && this.queueLength === 0;
  }

  async getFirmwareVersion(options: CommandOptions = {}): Promise<FirmwareVersion> {
    const data = await this.command(Pn532Command.GetFirmwareVersion, new Uint8Array(0), options);
    expectLength(data, 4, "GetFirmwareVersion");
    return { ic: data[0]!, version: data[1]!, revision: data[2]!, support: data[3]! };
  }

  /** Normal mode (no SAM). start() already sends this after the wake-up. */
  async samConfiguration(options: CommandOptions = {}): Promise<void> {
    const data = await this.command(Pn532Command.SamConfiguration, Uint8Array.of(0x01), options);
    expectLength(data, 0, "SAMConfiguration");
  }

  /** One ISO/IEC 14443 type A target at 106 kbps; waits up to timeoutMs for one to enter the field. */
  async inListPassiveTarget(options: CommandOptions = {}): Promise<PassiveTarget | undefined> {
    const data = await this.command(Pn532Command.InListPassiveTarget, Uint8Array.of(0x01, 0x00), options);
    return parsePassiveTarget(data);
  }

  /** Sends a C-APDU to a listed target and returns its R-APDU. */
  async inDataExchange(tg: number, apdu: Uint8Array, options: CommandOptions = {}): Promise<Uint8Array> {
    const data = await this.command(Pn532Command.InDataExchange, Uint8Array.from([tg, ...apdu]), options);
    checkStatus(data, "InDataExchange");
    return data.slice(1);
  }

  async inRelease(tg: number, options: CommandOptions = {}): Promise<void> {
    checkStatus(await this.command(Pn532Command.InRelease, Uint8Array.of(tg), options), "InRelease");
  }

  /** Emulates an ISO-DEP type A card (mode 05: PICC only, passive only) until a reader activates it. */
  async tgInitAsTarget(target: TargetParameters, options: CommandOptions = {}): Promise<TargetActivation> {
    assert(target.nfcId1.length === 3, "TgInitAsTarget needs a 3-byte NFCID1");
    const params = new Uint8Array(1 + 6 + 18 + 10 + 2);
    params[0] = 0x05;
    params.set([0x04, 0x00, ...target.nfcId1, 0x20], 1);
    const data = await this.command(Pn532Command.TgInitAsTarget, params, options);
    if (data.length < 1) throw unexpected("TgInitAsTarget answer is empty");
    return { mode: data[0]!, initiatorCommand: data.slice(1) };
  }

  /** The next C-APDU from the reader that activated us. */
  async tgGetData(options: CommandOptions = {}): Promise<Uint8Array> {
    const data = await this.command(Pn532Command.TgGetData, new Uint8Array(0), options);
    checkStatus(data, "TgGetData");
    return data.slice(1);
  }

  /** Our R-APDU to the reader's last C-APDU. */
  async tgSetData(apdu: Uint8Array, options: CommandOptions = {}): Promise<void> {
    checkStatus(await this.command(Pn532Command.TgSetData, apdu, options), "TgSetData");
  }

  private command(code: number, params: Uint8Array, options: CommandOptions): Promise<Uint8Array> {
    return this.enqueue(() => this.transact(code, params, options));
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    assert(this.started, "Pn532 used before start()");
    if (this.queueLength >= this.options.queueLengthMax) {
      return Promise.reject(
        new TapwireError(`PN532 command queue holds ${this.queueLength} commands`, ErrorCode.NfcQueueFull, { queueLengthMax: this.options.queueLengthMax }),
      );
    }
    this.queueLength++;
    const result = this.tail.then(work);
    const done = (): void => {
      this.queueLength--;
    };
    this.tail = result.then(done, done);
    return result;
  }

  private async transact(code: number, params: Uint8Array, options: CommandOptions, prefix?: Uint8Array): Promise<Uint8Array> {
    this.assertOpen();
    options.signal?.throwIfAborted();
    const frame = encodeInformationFrame(tfiHostToPn532, Uint8Array.from([code, ...params]));
    await this.sendUntilAcked(code, prefix ? Uint8Array.from([...prefix, ...frame]) : frame);
    return this.awaitResponse(code, options);
  }

  private async sendUntilAcked(code: number, bytes: Uint8Array): Promise<void> {
    const causes: ErrorCode[] = [];
    for (let attempt = 0; attempt <= this.options.retriesMax; attempt++) {
      if (attempt > 0) await this.delay(this.backoffMs(attempt));
      this.flushInput();
      await this.write(bytes);
      const outcome = await this.awaitAck();
      if (outcome === "ack") return;
      causes.push(outcome);
      log.debug({ code, attempt, cause: outcome }, "PN532 command not acknowledged");
    }
    const allSilent = causes.every((cause) => cause === ErrorCode.NfcTimeout);
    throw new TapwireError(
      `PN532 did not acknowledge command 0x${code.toString(16)} after ${causes.length} attempts`,
      allSilent ? ErrorCode.NfcTimeout : ErrorCode.NfcRetriesExhausted,
      { command: code, causes },
    );
  }

  private async awaitAck(): Promise<"ack" | ErrorCode> {
    const deadlineMs = this.nowMs() + this.options.ackTimeoutMs;
    for (let events = 0; events < this.options.inboxLengthMax; events++) {
      const event = await this.nextEvent(deadlineMs);
      if (event === "timeout") return ErrorCode.NfcTimeout;
      if (event === "closed") throw portClosed();
      if (event === "aborted") continue;
      if (event.type === "checksum") return ErrorCode.NfcChecksum;
      if (event.type === "tooLong") return ErrorCode.NfcFrameTooLong;
      if (event.type === "discarded") continue;
      const frame = event.frame;
      if (frame.kind === "ack") return "ack";
      if (frame.kind === "nack") return ErrorCode.NfcNack;
      if (frame.kind === "error") throw applicationError();
      log.debug({ tfi: frame.tfi }, "stale PN532 frame while waiting for ACK");
    }
    return ErrorCode.NfcUnexpectedResponse;
  }

  private async awaitResponse(code: number, options: CommandOptions): Promise<Uint8Array> {
    const timeoutMs = options.timeoutMs ?? this.options.responseTimeoutMs;
    let deadlineMs = this.nowMs() + timeoutMs;
    let nacksSent = 0;
    for (let events = 0; events < this.options.inboxLengthMax; events++) {
      const event = await this.nextEvent(deadlineMs, options.signal);
      if (event === "closed") throw portClosed();
      if (event === "timeout" || event === "aborted") {
        await this.abortCommand();
        if (event === "aborted") throw new TapwireError("PN532 command cancelled", ErrorCode.Cancelled, { command: code });
        throw new TapwireError(`PN532 gave no response to 0x${code.toString(16)} within ${timeoutMs} ms`, ErrorCode.NfcTimeout, { command: code, timeoutMs });
      }
      if (event.type === "discarded") continue;
      if (event.type === "checksum" || event.type === "tooLong") {
        if (nacksSent >= this.options.retriesMax) {
          throw new TapwireError("PN532 response stayed corrupt after NACKs", ErrorCode.NfcRetriesExhausted, { command: code, nacksSent });
        }
        nacksSent++;
        await this.delay(this.backoffMs(nacksSent));
        await this.write(nackBytes);
        deadlineMs = this.nowMs() + Math.min(timeoutMs, this.options.responseTimeoutMs);
        continue;
      }
      const frame = event.frame;
      if (frame.kind === "ack" || frame.kind === "nack") continue;
      if (frame.kind === "error") throw applicationError();
      if (frame.tfi !== tfiPn532ToHost || frame.data[0] !== code + 1) {
        throw unexpected(`expected response 0x${(code + 1).toString(16)}, got TFI 0x${frame.tfi.toString(16)} code 0x${(frame.data[0] ?? 0).toString(16)}`);
      }
      return frame.data.slice(1);
    }
    throw unexpected("too many frames without a response");
  }

  /** An ACK frame from the host aborts the command in progress (UM0701-02 §6.2.1.3). */
  private async abortCommand(): Promise<void> {
    if (this.closed) return;
    await this.write(ackBytes).catch((error: unknown) => log.warn({ err: error }, "could not abort PN532 command"));
  }

  private backoffMs(attempt: number): number {
    return this.options.retryBackoffMs * 2 ** (attempt - 1);
  }

  private nowMs(): number {
    return this.options.clock.nowMs();
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => this.options.timers.setTimeout(resolve, ms));
  }

  private flushInput(): void {
    this.parser.reset();
    this.inbox.length = 0;
  }

  private write(bytes: Uint8Array): Promise<void> {
    this.assertOpen();
    const { timers } = this.options;
    return new Promise<void>((resolve, reject) => {
      const timer = timers.setTimeout(
        () => reject(new TapwireError("serial write did not complete", ErrorCode.NfcTimeout, { timeoutMs: this.options.ackTimeoutMs })),
        this.options.ackTimeoutMs,
      );
      this.port.write(Buffer.from(bytes), (error) => {
        timers.clearTimeout(timer);
        if (error) reject(new TapwireError(`serial write failed: ${error.message}`, ErrorCode.NfcPortClosed));
        else resolve();
      });
    });
  }

  private receive(chunk: Buffer): void {
    for (const event of this.parser.push(chunk)) {
      if (event.type !== "frame") log.debug({ event }, "PN532 link event");
      if (this.waiter) {
        const waiter = this.waiter;
        this.waiter = undefined;
        waiter(event);
      } else if (this.inbox.length < this.options.inboxLengthMax) {
        this.inbox.push(event);
      } else {
        log.warn({ inboxLengthMax: this.options.inboxLengthMax }, "PN532 inbox full, dropping event");
      }
    }
  }

  private nextEvent(deadlineMs: number, signal?: AbortSignal): Promise<Pn532ParseEvent | "timeout" | "aborted" | "closed"> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closed || !this.started) return Promise.resolve("closed");
    if (signal?.aborted) return Promise.resolve("aborted");
    const { timers } = this.options;
    return new Promise((resolve) => {
      const finish: Waiter = (event) => {
        timers.clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (this.waiter === finish) this.waiter = undefined;
        resolve(event);
      };
      const onAbort = (): void => finish("aborted");
      const timer = timers.setTimeout(() => finish("timeout"), Math.max(0, deadlineMs - this.nowMs()));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiter = finish;
    });
  }

  private wake(event: "closed"): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(event);
  }

  private portClosed(): void {
    this.closed = true;
    this.wake("closed");
  }

  private assertOpen(): void {
    if (this.closed || !this.port.isOpen) {
      this.closed = true;
      throw portClosed();
    }
  }
}

function parsePassiveTarget(data: Uint8Array): PassiveTarget | undefined {
  if (data.length < 1) throw unexpected("InListPassiveTarget answer is empty");
  if (data[0] === 0) return undefined;
  if (data.length < 6) throw unexpected("InListPassiveTarget target is truncated");
  const tg = data[1]!;
  const sensRes = data.slice(2, 4);
  const selRes = data[4]!;
  const nfcIdLength = data[5]!;
  const nfcIdEnd = 6 + nfcIdLength;
  if (data.length < nfcIdEnd) throw unexpected("InListPassiveTarget NFCID is truncated");
  const nfcId = data.slice(6, nfcIdEnd);
  let ats = new Uint8Array(0);
  if ((selRes & 0x20) !== 0 && data.length > nfcIdEnd) {
    const atsLength = data[nfcIdEnd]!;
    if (atsLength < 1 || data.length < nfcIdEnd + atsLength) throw unexpected("InListPassiveTarget ATS is truncated");
    ats = data.slice(nfcIdEnd, nfcIdEnd + atsLength);
  }
  return { tg, sensRes, selRes, nfcId, ats };
}

function checkStatus(data: Uint8Array, command: string): void {
  if (data.length < 1) throw unexpected(`${command} answer has no status byte`);
  const status = data[0]! & 0x3f;
  if (status === 0) return;
  const context = { command, status };
  if (targetLostStatuses.has(status)) {
    throw new TapwireError(`${command}: target lost (status 0x${status.toString(16)})`, ErrorCode.NfcTargetLost, context);
  }
  throw new TapwireError(`${command}: PN532 status 0x${status.toString(16)}`, ErrorCode.NfcStatus, context);
}

function expectLength(data: Uint8Array, length: number, command: string): void {
  if (data.length !== length) throw unexpected(`${command} answer has ${data.length} bytes, expected ${length}`);
}

function unexpected(message: string): TapwireError {
  return new TapwireError(message, ErrorCode.NfcUnexpectedResponse);
}

function applicationError(): TapwireError {
  return new TapwireError("PN532 answered with an application error frame", ErrorCode.NfcApplicationError);
}

function portClosed(): TapwireError {
  return new TapwireError("serial port is closed", ErrorCode.NfcPortClosed);
}

export function isTargetLost(error: unknown): boolean {
  return error instanceof TapwireError && error.code === ErrorCode.NfcTargetLost;
}
