import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { TagLink } from "./field.ts";

/**
 * The emulated tag's link to the reader that activated it, for one activation: the reader's C-APDU waits until the
 * host fetches it (TgGetData / TgGetInitiatorCommand), the host's answer (TgSetData / TgResponseToInitiator) resolves
 * the reader's call. The timeout belongs to the reader in the field, not to the chip: the chip itself never times out.
 */
export class TargetSession implements TagLink {
  ended = false;
  private command: Uint8Array | undefined;
  private awaiting: { resolve: (apdu: Uint8Array) => void; reject: (error: Error) => void; timer: NodeJS.Timeout } | undefined;

  constructor(private readonly onChange: () => void) {}

  transceive(apdu: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.ended) return Promise.reject(new TapwireError("the tag left the field", ErrorCode.NfcTargetLost));
    if (this.awaiting) return Promise.reject(new TapwireError("one APDU at a time", ErrorCode.NfcUnexpectedResponse));
    const answer = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.awaiting = undefined;
        this.command = undefined;
        reject(new TapwireError(`the tag did not answer within ${timeoutMs} ms`, ErrorCode.NfcTimeout));
      }, timeoutMs);
      this.awaiting = { resolve, reject, timer };
    });
    this.command = apdu.slice();
    this.onChange();
    return answer;
  }

  takeCommand(): Uint8Array | undefined {
    const command = this.command;
    this.command = undefined;
    return command;
  }

  /** False when no C-APDU is waiting for this answer (already answered, or the reader gave up). */
  deliverResponse(apdu: Uint8Array): boolean {
    const awaiting = this.awaiting;
    if (!awaiting || this.command) return false;
    this.awaiting = undefined;
    clearTimeout(awaiting.timer);
    awaiting.resolve(apdu);
    return true;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const awaiting = this.awaiting;
    this.awaiting = undefined;
    if (awaiting) {
      clearTimeout(awaiting.timer);
      awaiting.reject(new TapwireError("the tag left the field", ErrorCode.NfcTargetLost));
    }
    this.onChange();
  }
}
