import type {
  BindingInterface,
  BindingPortInterface,
  OpenOptions,
  PortInfo,
  PortStatus,
  SetOptions,
  UpdateOptions,
} from "@serialport/bindings-interface" with { "resolution-mode": "require" };
import { logger } from "../../core/log.ts";
import type { SerialDevice } from "./serial-device.ts";

const log = logger("tapwire:sim:serial");

/** Bytes the device may send ahead of the host's reads before they are dropped, like a UART overrun. */
export const receiveBytesMax = 64 * 1024;

class CanceledError extends Error {
  readonly canceled = true;
}

interface PendingRead {
  buffer: Buffer;
  offset: number;
  length: number;
  resolve: (result: { buffer: Buffer; bytesRead: number }) => void;
  reject: (error: Error) => void;
}

/**
 * A serialport binding whose ports are wired to simulated devices, so the real SerialPortStream (and any
 * driver on top of it) runs unchanged in tests. Like zwave-js's mock serial port: the device side sees
 * every byte the host writes and answers through the same link.
 *
 * No real time passes here: every step waits at most one setImmediate turn (or a microtask), in the order the
 * host asked for it, so a simulation on a virtual clock sees the same bytes in the same order on every run.
 */
export class MockSerialBinding implements BindingInterface<MockPortBinding> {
  private readonly devices = new Map<string, SerialDevice>();
  private readonly openPorts = new Map<string, MockPortBinding>();

  attach(path: string, device: SerialDevice): void {
    this.devices.set(path, device);
  }

  /** Takes the device away: an open port is unplugged, and opening the path fails until it is attached again. */
  detach(path: string): void {
    this.unplug(path);
    this.devices.delete(path);
  }

  /** Pulls the cable: the host sees a disconnect (its pending read fails, SerialPortStream closes). */
  unplug(path: string): void {
    this.openPorts.get(path)?.unplug();
  }

  async list(): Promise<PortInfo[]> {
    return [...this.devices.keys()].map((path) => ({
      path,
      manufacturer: "tapwire simulator",
      serialNumber: undefined,
      pnpId: undefined,
      locationId: undefined,
      productId: undefined,
      vendorId: undefined,
    }));
  }

  async open(options: OpenOptions): Promise<MockPortBinding> {
    await new Promise((resolve) => setImmediate(resolve));
    const device = this.devices.get(options.path);
    if (!device) throw new Error(`no simulated device at ${options.path}`);
    if (this.openPorts.has(options.path)) throw new Error(`${options.path} is locked by another open port`);
    const openOptions: Required<OpenOptions> = {
      dataBits: 8,
      lock: true,
      stopBits: 1,
      parity: "none",
      rtscts: false,
      xon: false,
      xoff: false,
      xany: false,
      hupcl: true,
      ...options,
    };
    const port = new MockPortBinding(device, openOptions, () => this.openPorts.delete(options.path));
    this.openPorts.set(options.path, port);
    return port;
  }
}

export class MockPortBinding implements BindingPortInterface {
  isOpen = true;
  private unplugged = false;
  private received: Buffer = Buffer.alloc(0);
  private pendingRead: PendingRead | undefined;

  constructor(
    private readonly device: SerialDevice,
    readonly openOptions: Required<OpenOptions>,
    private readonly onClosed: () => void,
  ) {
    device.connect((bytes) => this.fromDevice(bytes));
  }

  async close(): Promise<void> {
    if (!this.isOpen) throw new Error("port is not open");
    this.shutDown(new CanceledError("port closed"));
  }

  async read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    if (!this.isOpen) throw new CanceledError("port is not open");
    if (this.unplugged) throw new Error("device unplugged");
    if (this.pendingRead) throw new Error("overlapping reads are not supported");
    if (this.received.length > 0) return { buffer, bytesRead: this.take(buffer, offset, length) };
    return new Promise((resolve, reject) => {
      this.pendingRead = { buffer, offset, length, resolve, reject };
    });
  }

  async write(buffer: Buffer): Promise<void> {
    if (!this.isOpen) throw new CanceledError("port is not open");
    if (this.unplugged) throw new Error("device unplugged");
    const copy = new Uint8Array(buffer);
    await new Promise((resolve) => setImmediate(resolve));
    if (!this.isOpen) throw new CanceledError("write canceled");
    this.device.receive(copy);
  }

  async update(options: UpdateOptions): Promise<void> {
    this.openOptions.baudRate = options.baudRate;
  }

  async set(_options: SetOptions): Promise<void> {
    if (!this.isOpen) throw new Error("port is not open");
  }

  async get(): Promise<PortStatus> {
    return { cts: true, dsr: true, dcd: false };
  }

  async getBaudRate(): Promise<{ baudRate: number }> {
    return { baudRate: this.openOptions.baudRate };
  }

  async flush(): Promise<void> {
    this.received = Buffer.alloc(0);
  }

  async drain(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Like a USB adapter pulled out: reads and writes fail (not cancelled), so SerialPortStream closes the port. */
  unplug(): void {
    if (!this.isOpen || this.unplugged) return;
    this.unplugged = true;
    this.device.disconnect();
    const pending = this.pendingRead;
    this.pendingRead = undefined;
    pending?.reject(new Error("device unplugged"));
  }

  private shutDown(readError: Error): void {
    this.isOpen = false;
    this.received = Buffer.alloc(0);
    const pending = this.pendingRead;
    this.pendingRead = undefined;
    pending?.reject(readError);
    if (!this.unplugged) this.device.disconnect();
    this.onClosed();
  }

  private fromDevice(bytes: Uint8Array): void {
    if (!this.isOpen || this.unplugged) return;
    if (this.received.length + bytes.length > receiveBytesMax) {
      log.warn({ receiveBytesMax }, "host is not reading; dropping device bytes");
      return;
    }
    this.received = Buffer.concat([this.received, bytes]);
    const pending = this.pendingRead;
    if (!pending) return;
    this.pendingRead = undefined;
    pending.resolve({ buffer: pending.buffer, bytesRead: this.take(pending.buffer, pending.offset, pending.length) });
  }

  private take(buffer: Buffer, offset: number, length: number): number {
    const count = Math.min(length, this.received.length);
    this.received.copy(buffer, offset, 0, count);
    this.received = this.received.subarray(count);
    return count;
  }
}
