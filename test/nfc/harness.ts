import { Pn532, type Pn532Options } from "../../firmware-bridge/nfc/pn532.ts";
import { openSerialPort } from "../../firmware-bridge/serial/open-serial-port.ts";
import type { SerialPortLike } from "../../firmware-bridge/serial/serial-port.ts";
import { TapwireError } from "../../protocol/errors.ts";
import { MockSerialBinding } from "../../simulator/serial/mock-binding.ts";
import { VirtualPn532 } from "../../simulator/pn532/virtual-pn532.ts";

export const devicePath = "/dev/ttyS0";

/** Short waits so fault tests finish in milliseconds; real timers, real SerialPortStream. */
export const fastOptions: Partial<Pn532Options> = {
  ackTimeoutMs: 40,
  responseTimeoutMs: 300,
  retriesMax: 3,
  retryBackoffMs: 1,
};

export interface Harness {
  binding: MockSerialBinding;
  chip: VirtualPn532;
  port: SerialPortLike;
  pn532: Pn532;
  close(): Promise<void>;
}

/** A VirtualPn532 behind the mock binding, the real SerialPortStream and the real driver (not yet started). */
export async function openHarness(options: Partial<Pn532Options> = {}): Promise<Harness> {
  const binding = new MockSerialBinding();
  const chip = new VirtualPn532();
  binding.attach(devicePath, chip);
  const port = await openSerialPort({ path: devicePath, baudRate: 115200, openTimeoutMs: 1_000, binding });
  const pn532 = new Pn532(port, { ...fastOptions, ...options });
  return { binding, chip, port, pn532, close: () => closeLink(pn532, port) };
}

export async function startedHarness(options: Partial<Pn532Options> = {}): Promise<Harness> {
  const harness = await openHarness(options);
  await harness.pn532.start();
  return harness;
}

export async function closeLink(pn532: Pn532, port: SerialPortLike): Promise<void> {
  pn532.stop();
  if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
}

/** The code of the TapwireError a promise rejects with (tests assert codes, never messages). */
export async function rejectionCode(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TapwireError) return error.code;
    throw error;
  }
  throw new Error("expected a rejection");
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex").replace(/(..)(?!$)/g, "$1 ");
}

export function fromHex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}
