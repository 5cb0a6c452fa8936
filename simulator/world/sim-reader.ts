import { SerialPortStream } from "@serialport/stream";
import type { TapTiming } from "../../device/tap/tap-config.ts";
import { reopenDelaysDefault } from "../../firmware-bridge/adapters/device-supervisor.ts";
import { SupervisedTapReader, type OpenedReader } from "../../firmware-bridge/adapters/supervised-tap-reader.ts";
import { RetryingTapReader } from "../../firmware-bridge/adapters/retrying-tap-reader.ts";
import { NfcTapReader } from "../../firmware-bridge/nfc/nfc-tap-reader.ts";
import { Pn532 } from "../../firmware-bridge/nfc/pn532.ts";
import type { SerialPortLike } from "../../firmware-bridge/serial/serial-port.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { Clock, Random, Timers } from "../../core/sources.ts";
import type { MockSerialBinding } from "../serial/mock-binding.ts";

/** Where the world's virtual PN532 sits on each hub's mock serial binding. */
export const readerPath = "/dev/ttyS0";
/** The same per-APDU wait and reads per sale the simulated tap hub uses. */
const apduTimeoutMs = 300;
const readAttemptsMax = 8;

export interface SimReaderDeps {
  binding: MockSerialBinding;
  clock: Clock;
  timers: Timers;
  random: Random;
  timing: TapTiming;
}

/**
 * The reader stack of TapHubAssembly, on the world's time: SupervisedTapReader reopening the port, the real PN532
 * driver (its timers the world's) over the real SerialPortStream on the mock binding, NfcTapReader and
 * RetryingTapReader on top. The assembly itself also starts a Firmata panel and an MQTT link, which a world does
 * not have, so the same few lines of wiring are repeated here.
 */
export function supervisedReader(deps: SimReaderDeps): SupervisedTapReader {
  return new SupervisedTapReader({ open: () => openReader(deps), timers: deps.timers, random: deps.random, ...reopenDelaysDefault });
}

async function openReader(deps: SimReaderDeps): Promise<OpenedReader> {
  const port = await openPort(deps.binding);
  const pn532 = new Pn532(port, { timers: deps.timers, clock: deps.clock });
  try {
    await pn532.start();
  } catch (error) {
    await closePort(port);
    throw error;
  }
  const nfc = new NfcTapReader(pn532, {
    clock: deps.clock,
    random: deps.random,
    waitForCardMs: deps.timing.tapTimeoutMs,
    apduTimeoutMs,
    presentTimeoutMs: deps.timing.tapTimeoutMs,
  });
  return {
    reader: new RetryingTapReader(nfc, { readAttemptsMax }),
    onGone: (listener) => port.on("close", listener),
    close: async () => {
      pn532.stop();
      await closePort(port);
    },
  };
}

/** openSerialPort without its real-time open timeout: opening a mock port takes one event-loop turn. */
function openPort(binding: MockSerialBinding): Promise<SerialPortLike> {
  const port = new SerialPortStream({ binding, path: readerPath, baudRate: 115200, autoOpen: false });
  return new Promise((resolve, reject) =>
    port.open((error) => (error ? reject(new TapwireError(`cannot open ${readerPath}: ${error.message}`, ErrorCode.NfcPortClosed)) : resolve(port))),
  );
}

function closePort(port: SerialPortLike): Promise<void> {
  if (!port.isOpen) return Promise.resolve();
  return new Promise((resolve) => port.close(() => resolve()));
}
