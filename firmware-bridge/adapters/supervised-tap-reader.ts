import type { TapReaderPort, TapReading } from "../../device/ports.ts";
import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import type { HceCredential } from "../../protocol/messages.ts";
import { DeviceSupervisor, SupervisedDevice, type DeviceSupervisorOptions, type OpenedDevice } from "./device-supervisor.ts";

const log = logger("tapwire:adapters:reader-supervisor");

/** A reader opened over its link (serial port, tcp://): how to read, how to hear it go, how to let it go. */
export interface OpenedReader extends OpenedDevice {
  reader: TapReading;
}

export type SupervisedTapReaderOptions = Omit<DeviceSupervisorOptions<OpenedReader>, "what" | "goneCode" | "log">;

/** Errors that mean the link to the reader is gone rather than the phone or the read. */
const goneCodes = new Set<number>([ErrorCode.NfcPortClosed]);

/**
 * The reader as a field device needs it: when its link goes (a USB reader unplugged, the served simulator
 * restarted), it says so at once (present = false, so the hub shows "reader gone" instead of failing each sale
 * with E509) and reopens it with backoff until it answers again. A sale asked of an absent reader fails fast
 * with ReaderGone.
 */
export class SupervisedTapReader extends SupervisedDevice<OpenedReader> implements TapReaderPort {
  protected readonly supervisor: DeviceSupervisor<OpenedReader>;

  constructor(options: SupervisedTapReaderOptions) {
    super();
    this.supervisor = new DeviceSupervisor({ ...options, what: "NFC reader", goneCode: ErrorCode.ReaderGone, log });
  }

  readCard(input: { hubId: string; amountMinor: number; currency: string; signal: AbortSignal }): Promise<HceCredential> {
    return this.use((reader) => reader.readCard(input));
  }

  presentOffer(input: { offer: Buffer; signal: AbortSignal }): Promise<void> {
    return this.use((reader) => reader.presentOffer(input));
  }

  private async use<T>(work: (reader: TapReading) => Promise<T>): Promise<T> {
    const current = this.supervisor.current;
    if (current === undefined) throw new TapwireError("the NFC reader is not answering; reopening it", ErrorCode.ReaderGone);
    try {
      return await work(current.reader);
    } catch (error) {
      if (isTapwireError(error) && goneCodes.has(error.code)) {
        this.supervisor.lost(current);
        throw new TapwireError("the NFC reader went away during the sale; reopening it", ErrorCode.ReaderGone, undefined, { cause: error });
      }
      throw error;
    }
  }
}
