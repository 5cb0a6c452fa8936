import { assert } from "../../core/assert.ts";
import { ErrorCode, isTapwireError, TapwireError } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import { encodeNdefFile, encodeOfferNdef, type OfferRecordKind } from "../../protocol/ndef.ts";
import type { Clock, Random } from "../../core/sources.ts";
import type { CommandOptions, TargetActivation, TargetParameters } from "./pn532.ts";
import { mleBytesMax, Type4TagSession } from "./type4-tag.ts";

const log = logger("tapwire:nfc:tag");

/** What tag mode needs from the chip; Pn532 provides it. */
export interface NfcTargetEmulator {
  tgInitAsTarget(target: TargetParameters, options?: CommandOptions): Promise<TargetActivation>;
  tgGetData(options?: CommandOptions): Promise<Uint8Array>;
  tgSetData(apdu: Uint8Array, options?: CommandOptions): Promise<void>;
}

export interface TagModeOptions {
  clock: Clock;
  /** Source of a fresh 3-byte NFCID1 per activation, so a tag cannot be tracked across taps. */
  random: Random;
  recordKind: OfferRecordKind;
  /** Largest READ BINARY answer (the CC's MLe), 15..250 bytes. */
  mleBytes: number;
  /** How long the phone may take between two APDUs before it counts as gone. */
  apduTimeoutMs: number;
  /** APDUs served per activation; a reader looping past this is dropped. */
  apdusPerTapMax: number;
  /** Activations (taps) per presentation; a phone that keeps tapping without reading is given up on. */
  tapsMax: number;
}

export const defaultTagModeOptions: Omit<TagModeOptions, "clock" | "random"> = {
  recordKind: "external",
  mleBytes: 128,
  apduTimeoutMs: 500,
  apdusPerTapMax: 64,
  tapsMax: 16,
};

export interface OfferPresentation {
  /** Activations it took until one phone read the whole NDEF file. */
  taps: number;
  apdus: number;
}

/** Phone left or went quiet: listen for the next tap instead of failing the presentation. */
const tapEndedCodes = new Set<number>([ErrorCode.NfcTargetLost, ErrorCode.NfcTimeout]);

/**
 * Tag mode (Alipay Tap! style): the hub emulates a Type 4 Tag whose NDEF record is the hub-signed TagOffer;
 * the phone reads it and pays online, and the hub learns the outcome from the settlement service.
 */
export class TagMode {
  private readonly options: TagModeOptions;

  constructor(
    private readonly nfc: NfcTargetEmulator,
    options: Pick<TagModeOptions, "clock" | "random"> & Partial<TagModeOptions>,
  ) {
    this.options = { ...defaultTagModeOptions, ...options };
    assert(this.options.mleBytes >= 15 && this.options.mleBytes <= mleBytesMax, `mleBytes must be 15..${mleBytesMax}`);
    assert(this.options.apdusPerTapMax >= 1 && this.options.tapsMax >= 1, "tag mode limits must be positive");
  }

  /** Resolves once a phone has read the whole NDEF file; NfcTimeout after timeoutMs, Cancelled on abort. */
  async presentOffer(offerBytes: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<OfferPresentation> {
    assert(Number.isInteger(timeoutMs) && timeoutMs > 0, "timeoutMs must be a positive integer");
    const ndefFile = encodeNdefFile(encodeOfferNdef(offerBytes, this.options.recordKind));
    const deadlineMs = this.options.clock.nowMs() + timeoutMs;
    let apdus = 0;
    for (let taps = 1; taps <= this.options.tapsMax; taps++) {
      const activation = await this.nfc.tgInitAsTarget({ nfcId1: this.options.random.bytes(3) }, { timeoutMs: this.remainingMs(deadlineMs, timeoutMs), signal });
      log.debug({ mode: activation.mode, taps }, "reader activated the tag");
      const session = new Type4TagSession(ndefFile, this.options.mleBytes);
      try {
        apdus += await this.serve(session, deadlineMs, timeoutMs, signal);
      } catch (error) {
        if (!(isTapwireError(error) && tapEndedCodes.has(error.code))) throw error;
        log.debug({ code: error.code, taps }, "phone left before reading the offer");
        continue;
      }
      if (session.ndefFileRead) return { taps, apdus };
    }
    throw new TapwireError(`no phone read the offer in ${this.options.tapsMax} taps`, ErrorCode.NfcTimeout, { tapsMax: this.options.tapsMax });
  }

  private async serve(session: Type4TagSession, deadlineMs: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    for (let apdus = 1; apdus <= this.options.apdusPerTapMax; apdus++) {
      const waitMs = Math.min(this.options.apduTimeoutMs, this.remainingMs(deadlineMs, timeoutMs));
      const command = await this.nfc.tgGetData({ timeoutMs: waitMs, signal });
      await this.nfc.tgSetData(session.answer(command), { timeoutMs: this.options.apduTimeoutMs, signal });
      if (session.ndefFileRead) return apdus;
    }
    throw new TapwireError(`reader sent ${this.options.apdusPerTapMax} APDUs without reading the offer`, ErrorCode.NfcTargetLost);
  }

  private remainingMs(deadlineMs: number, timeoutMs: number): number {
    const remainingMs = deadlineMs - this.options.clock.nowMs();
    if (remainingMs <= 0) throw new TapwireError(`no phone read the offer within ${timeoutMs} ms`, ErrorCode.NfcTimeout, { timeoutMs });
    return remainingMs;
  }
}
