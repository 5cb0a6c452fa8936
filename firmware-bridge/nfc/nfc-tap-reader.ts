import type { TapReading } from "../../device/ports.ts";
import { assert } from "../../core/assert.ts";
import type { HceCredential } from "../../protocol/messages.ts";
import type { Clock, Random } from "../../core/sources.ts";
import { ReaderMode, type NfcInitiator } from "./reader-mode.ts";
import { TagMode, type NfcTargetEmulator, type TagModeOptions } from "./tag-mode.ts";

export interface NfcTapReaderOptions {
  clock: Clock;
  random: Random;
  /** Upper bound on waiting for a card; the tap machine usually aborts sooner through its signal. */
  waitForCardMs: number;
  apduTimeoutMs: number;
  /** Upper bound on presenting one offer; the tap machine usually aborts sooner through its signal. */
  presentTimeoutMs: number;
  tag?: Partial<Omit<TagModeOptions, "clock" | "random">>;
}

/** The PN532 (or anything with its initiator and target commands) as device/'s TapReaderPort. */
export class NfcTapReader implements TapReading {
  private readonly tagMode: TagMode;

  constructor(
    private readonly nfc: NfcInitiator & NfcTargetEmulator,
    private readonly options: NfcTapReaderOptions,
  ) {
    assert(options.waitForCardMs > 0 && options.apduTimeoutMs > 0 && options.presentTimeoutMs > 0, "NFC timeouts must be positive");
    this.tagMode = new TagMode(nfc, { clock: options.clock, random: options.random, apduTimeoutMs: options.apduTimeoutMs, ...options.tag });
  }

  readCard(input: { hubId: string; amountMinor: number; currency: string; signal: AbortSignal }): Promise<HceCredential> {
    const reader = new ReaderMode(this.nfc, {
      hubId: input.hubId,
      random: this.options.random,
      waitForCardMs: this.options.waitForCardMs,
      apduTimeoutMs: this.options.apduTimeoutMs,
    });
    return reader.readCredential({ amountMinor: input.amountMinor, currency: input.currency }, input.signal);
  }

  async presentOffer(input: { offer: Buffer; signal: AbortSignal }): Promise<void> {
    await this.tagMode.presentOffer(new Uint8Array(input.offer), this.options.presentTimeoutMs, input.signal);
  }
}
