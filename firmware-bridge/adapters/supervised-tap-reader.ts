import type { TapReaderPort, TapReading } from "../../device/ports.ts";
import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import type { HceCredential } from "../../protocol/messages.ts";
import { assertInRanges } from "../../core/ranges.ts";
import type { Random, Timers } from "../../core/sources.ts";

const log = logger("tapwire:adapters:reader-supervisor");

/** A reader opened over its link (serial port, tcp://): how to read, how to hear it go, how to let it go. */
export interface OpenedReader {
  reader: TapReading;
  /** Calls `listener` once the link to the reader is gone (unplugged, socket closed). */
  onGone(listener: () => void): void;
  close(): Promise<void>;
}

export interface SupervisedTapReaderOptions {
  /** Opens the reader from scratch: port, driver, wake-up. Rejects (a TapwireError) when it cannot. */
  open: () => Promise<OpenedReader>;
  timers: Timers;
  random: Random;
  /** First wait before reopening a reader that went away; doubles up to reopenDelayMsMax, with jitter. */
  reopenDelayMsMin: number;
  reopenDelayMsMax: number;
}

export const reopenDelaysDefault = { reopenDelayMsMin: 500, reopenDelayMsMax: 30_000 };

/** Errors that mean the link to the reader is gone rather than the phone or the read. */
const goneCodes = new Set<number>([ErrorCode.NfcPortClosed]);

/**
 * The reader as a field device needs it: when its link goes (a USB reader unplugged, the served simulator
 * restarted), it says so at once (present = false, so the hub shows "reader gone" instead of failing each sale
 * with E509) and reopens it with backoff until it answers again. A sale asked of an absent reader fails fast
 * with ReaderGone.
 */
export class SupervisedTapReader implements TapReaderPort {
  private current: OpenedReader | undefined;
  private readonly listeners = new Set<(present: boolean) => void>();
  private reopenTimer: unknown;
  private reopenAttempts = 0;
  private running = false;

  constructor(private readonly options: SupervisedTapReaderOptions) {
    assertInRanges(options, { reopenDelayMsMin: [10, 600_000, "milliseconds"], reopenDelayMsMax: [10, 3_600_000, "milliseconds"] }, "reader supervision");
  }

  get present(): boolean {
    return this.current !== undefined;
  }

  /** Opens the reader; if it is not there yet the hub still starts, shows "reader gone" and keeps trying. */
  async start(): Promise<void> {
    assert(!this.running, "SupervisedTapReader started twice");
    this.running = true;
    await this.attempt();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.options.timers.clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    const current = this.current;
    this.current = undefined;
    await current?.close();
  }

  onPresence(listener: (present: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  readCard(input: { hubId: string; amountMinor: number; currency: string; signal: AbortSignal }): Promise<HceCredential> {
    return this.use((reader) => reader.readCard(input));
  }

  presentOffer(input: { offer: Buffer; signal: AbortSignal }): Promise<void> {
    return this.use((reader) => reader.presentOffer(input));
  }

  private async use<T>(work: (reader: TapReading) => Promise<T>): Promise<T> {
    const current = this.current;
    if (current === undefined) throw new TapwireError("the NFC reader is not answering; reopening it", ErrorCode.ReaderGone);
    try {
      return await work(current.reader);
    } catch (error) {
      if (isTapwireError(error) && goneCodes.has(error.code)) {
        this.lost(current);
        throw new TapwireError("the NFC reader went away during the sale; reopening it", ErrorCode.ReaderGone, undefined, { cause: error });
      }
      throw error;
    }
  }

  private async attempt(): Promise<void> {
    this.reopenTimer = undefined;
    let opened: OpenedReader;
    try {
      opened = await this.options.open();
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      this.scheduleReopen(error);
      return;
    }
    if (!this.running) {
      await opened.close();
      return;
    }
    this.current = opened;
    this.reopenAttempts = 0;
    opened.onGone(() => this.lost(opened));
    log.info("NFC reader present");
    this.tell(true);
  }

  private lost(which: OpenedReader): void {
    if (this.current !== which) return;
    this.current = undefined;
    log.error({ code: ErrorCode.ReaderGone }, "NFC reader gone; reopening it");
    this.tell(false);
    void which.close().catch((error: unknown) => log.warn({ err: error }, "closing the lost reader failed"));
    this.scheduleReopen(undefined);
  }

  private scheduleReopen(error: TapwireError | undefined): void {
    if (!this.running || this.reopenTimer !== undefined) return;
    this.reopenAttempts += 1;
    const { reopenDelayMsMin, reopenDelayMsMax } = this.options;
    const baseMs = Math.min(reopenDelayMsMax, reopenDelayMsMin * 2 ** Math.min(this.reopenAttempts - 1, 20));
    const delayMs = Math.max(reopenDelayMsMin, Math.round(baseMs * (0.8 + (this.options.random.bytes(1)[0]! / 255) * 0.4)));
    log.warn({ code: error?.code, attempt: this.reopenAttempts, delayMs }, "NFC reader not available; trying again");
    this.reopenTimer = this.options.timers.setTimeout(() => void this.attempt(), delayMs);
  }

  private tell(present: boolean): void {
    for (const listener of [...this.listeners]) listener(present);
  }
}
