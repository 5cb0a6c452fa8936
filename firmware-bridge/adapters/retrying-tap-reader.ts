import type { TapReading } from "../../device/ports.ts";
import { assert } from "../../core/assert.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import type { HceCredential } from "../../protocol/messages.ts";

const log = logger("tapwire:adapters:reader");

/** A phone pulled away mid-read, or none arriving within the driver's own wait: listen again. */
const retryableCodes = new Set<number>([ErrorCode.NfcTargetLost, ErrorCode.NfcTimeout]);

export interface RetryingTapReaderOptions {
  /** Reads per readCard call, the first included; the tap machine's tap timeout usually ends it sooner. */
  readAttemptsMax: number;
}

/**
 * Reader mode as a customer sees it: a phone taken away too early is tapped again, so a lost target is not a
 * failed sale but another wait for a tap, until the machine aborts (tap timeout, cancel) or the attempts run
 * out. Tag mode already listens for the next tap itself (TagMode's tapsMax).
 */
export class RetryingTapReader implements TapReading {
  constructor(
    private readonly inner: TapReading,
    private readonly options: RetryingTapReaderOptions,
  ) {
    assert(Number.isSafeInteger(options.readAttemptsMax) && options.readAttemptsMax >= 1, "readAttemptsMax must be a positive integer");
  }

  async readCard(input: { hubId: string; amountMinor: number; currency: string; signal: AbortSignal }): Promise<HceCredential> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.inner.readCard(input);
      } catch (error) {
        const retryable = isTapwireError(error) && retryableCodes.has(error.code);
        if (!retryable || input.signal.aborted || attempt >= this.options.readAttemptsMax) throw error;
        log.info({ code: error.code, attempt }, "tap interrupted; waiting for the phone again");
      }
    }
  }

  presentOffer(input: { offer: Buffer; signal: AbortSignal }): Promise<void> {
    return this.inner.presentOffer(input);
  }
}
