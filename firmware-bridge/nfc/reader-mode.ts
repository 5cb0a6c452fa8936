import { assert } from "../../core/assert.ts";
import { ErrorCode, isTapwireError, TapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { logger } from "../../core/log.ts";
import { hceCredentialSchema, parseBody, type HceCredential } from "../../protocol/messages.ts";
import type { Money } from "../../protocol/money.ts";
import { apduError, cidGoOnline, decodeAppFciName, decodeGpoResponse, decodePpseFci, encodeGpoCommand, expectOk, ppseName, selectByNameApdu, StatusWord, tapwireAid, unpredictableNumberBytes } from "../../protocol/nfc-apdu.ts";
import { sameBytes } from "../../protocol/bytes.ts";
import type { Random } from "../../core/sources.ts";
import type { CommandOptions, PassiveTarget } from "./pn532.ts";

const log = logger("tapwire:nfc:reader");

/** What reader mode needs from the chip; Pn532 provides it. */
export interface NfcInitiator {
  inListPassiveTarget(options?: CommandOptions): Promise<PassiveTarget | undefined>;
  inDataExchange(tg: number, apdu: Uint8Array, options?: CommandOptions): Promise<Uint8Array>;
  inRelease(tg: number, options?: CommandOptions): Promise<void>;
}

export interface ReaderModeOptions {
  hubId: string;
  /** Source of the 4-byte unpredictable number (9F37). */
  random: Random;
  /** How long to wait for a phone or card to enter the field. */
  waitForCardMs: number;
  /** How long one APDU round trip may take before the card counts as gone. */
  apduTimeoutMs: number;
}

/** Once a card is listed, these mean it left (or stopped answering) mid-exchange. */
const lostDuringExchange = new Set<number>([ErrorCode.NfcTimeout, ErrorCode.NfcTargetLost]);

/**
 * Reader mode for HCE phones and cards, EMV-shaped: SELECT PPSE, SELECT the tapwire AID, GET PROCESSING
 * OPTIONS with amount, currency, a fresh unpredictable number and the hub id; the wallet answers its id,
 * ATC and an ES256 cryptogram over all of it (protocol/payer.ts), which the settlement service verifies.
 */
export class ReaderMode {
  constructor(
    private readonly nfc: NfcInitiator,
    private readonly options: ReaderModeOptions,
  ) {
    assert(isId(options.hubId), "reader mode needs a valid hub id");
  }

  /** Waits for a card, runs the exchange and releases the card. */
  async readCredential(payment: Money, signal?: AbortSignal): Promise<HceCredential> {
    const target = await this.nfc.inListPassiveTarget({ timeoutMs: this.options.waitForCardMs, signal });
    if (!target) {
      throw new TapwireError("no card or phone entered the field", ErrorCode.NfcTimeout, { waitForCardMs: this.options.waitForCardMs });
    }
    try {
      return await this.exchange(target.tg, payment, signal);
    } catch (error) {
      if (isTapwireError(error) && lostDuringExchange.has(error.code)) {
        throw new TapwireError(`card left the field: ${error.message}`, ErrorCode.NfcTargetLost, { cause: error.code });
      }
      throw error;
    } finally {
      await this.nfc
        .inRelease(target.tg, { timeoutMs: this.options.apduTimeoutMs })
        .catch((error: unknown) => log.debug({ err: error }, "InRelease after reader-mode exchange failed"));
    }
  }

  private async exchange(tg: number, payment: Money, signal?: AbortSignal): Promise<HceCredential> {
    const transceive = (apdu: Uint8Array): Promise<Uint8Array> =>
      this.nfc.inDataExchange(tg, apdu, { timeoutMs: this.options.apduTimeoutMs, signal });

    const directory = decodePpseFci(expectOk(await transceive(selectByNameApdu(ppseName)), "SELECT PPSE"));
    if (!directory.some((aid) => sameBytes(aid, tapwireAid))) {
      throw apduError("the wallet offers no tapwire application", { sw: StatusWord.fileNotFound });
    }
    const fciName = decodeAppFciName(expectOk(await transceive(selectByNameApdu(tapwireAid)), "SELECT AID"));
    if (!sameBytes(fciName, tapwireAid)) throw apduError("the wallet selected another application");

    const unpredictableNumber = this.options.random.bytes(unpredictableNumberBytes);
    const gpo = encodeGpoCommand({ ...payment, unpredictableNumber, hubId: this.options.hubId });
    const result = decodeGpoResponse(expectOk(await transceive(gpo), "GET PROCESSING OPTIONS"));
    if (result.cryptogramInfo !== cidGoOnline) {
      throw apduError(`the wallet declined (CID 0x${result.cryptogramInfo.toString(16)})`, { cid: result.cryptogramInfo });
    }
    log.debug({ walletId: result.walletId, atc: result.atc }, "HCE cryptogram read");
    return parseBody(hceCredentialSchema, {
      kind: "hce",
      walletId: result.walletId,
      atc: result.atc,
      unpredictableNumber,
      cryptogram: result.cryptogram,
    });
  }
}
