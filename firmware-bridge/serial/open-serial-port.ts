import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import type { BindingInterface } from "@serialport/bindings-interface" with { "resolution-mode": "require" };
import { SerialPortStream } from "@serialport/stream";
import { SerialPort } from "serialport";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import { assertInRanges } from "../../core/ranges.ts";
import { connectTcp } from "../tcp-device-link.ts";
import type { SerialPortLike } from "./serial-port.ts";

const log = logger("tapwire:serial");

/** Where a serial device is and how to open it. */
export interface SerialPortConfig {
  /** `/dev/ttyS0`, `/dev/serial/by-id/…`, or `tcp://host:port` for a device (or simulator) served over TCP. */
  path: string;
  baudRate: number;
  openTimeoutMs: number;
  /** A serialport binding to use instead of the operating system's (a mock binding in tests). */
  binding?: BindingInterface;
}

const baudRates = [9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600];

/** Opens the link and resolves once it is ready for writing; NfcTimeout if that takes longer than openTimeoutMs. */
export async function openSerialPort(config: SerialPortConfig): Promise<SerialPortLike> {
  if (!baudRates.includes(config.baudRate)) {
    throw new TapwireError(`serial.baudRate must be one of ${baudRates.join(", ")}, got ${config.baudRate}`, ErrorCode.ConfigInvalid);
  }
  assertInRanges(config, { openTimeoutMs: [1, 60_000, "milliseconds"] }, "serial port configuration", "serial.");
  if (config.path.startsWith("tcp://")) return openTcp(config.path, config.openTimeoutMs);
  const port = config.binding
    ? new SerialPortStream({ binding: config.binding, path: config.path, baudRate: config.baudRate, autoOpen: false })
    : new SerialPort({ path: config.path, baudRate: config.baudRate, autoOpen: false });
  await withTimeout(
    new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve()))),
    config.openTimeoutMs,
    () => port.isOpen && port.close(),
  ).catch((error: unknown) => {
    throw openFailed(config.path, error);
  });
  return port;
}

async function openTcp(path: string, openTimeoutMs: number): Promise<SerialPortLike> {
  const socket = await connectTcp(path, "serial.path", openTimeoutMs, () => openTimedOut(openTimeoutMs)).catch((error: unknown) => {
    throw openFailed(path, error);
  });
  return new TcpSerialPort(socket);
}

/** A TCP socket with the SerialPort surface drivers use: data and close events, write with callback, close. */
class TcpSerialPort extends EventEmitter implements SerialPortLike {
  /** Socket errors seen on this link (each also logged). */
  linkErrors = 0;

  constructor(private readonly socket: Socket) {
    super();
    socket.on("data", (chunk: Buffer) => this.emit("data", chunk));
    socket.on("close", () => this.emit("close"));
    // A reset connection also ends in "close", which the driver acts on; the error itself is counted and logged.
    socket.on("error", (error) => {
      this.linkErrors += 1;
      log.warn({ code: ErrorCode.SerialLinkError, err: error.message, linkErrors: this.linkErrors }, "serial link over tcp failed");
    });
  }

  get isOpen(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  write(bytes: Buffer, callback?: (error: Error | null | undefined) => void): boolean {
    return this.socket.write(bytes, callback);
  }

  close(callback?: (error: Error | null) => void): void {
    if (this.socket.destroyed) {
      callback?.(null);
      return;
    }
    this.socket.once("close", () => callback?.(null));
    this.socket.destroy();
  }
}

function openFailed(path: string, error: unknown): TapwireError {
  if (error instanceof TapwireError) return error;
  return new TapwireError(`cannot open ${path}: ${(error as Error).message}`, ErrorCode.SerialOpenFailed, { path }, { cause: error });
}

function openTimedOut(timeoutMs: number): TapwireError {
  return new TapwireError(`open did not complete within ${timeoutMs} ms`, ErrorCode.SerialOpenTimeout, { timeoutMs });
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number, onTimeout: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout();
      reject(openTimedOut(timeoutMs));
    }, timeoutMs);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
