import type { KeyObject } from "node:crypto";
import { assert } from "../../core/assert.ts";
import { isId } from "../../protocol/ids.ts";
import { cidGoOnline, decodeCommandApdu, decodeGpoCommand, encodeAppFci, encodeGpoResponse, encodePpseFci, encodeResponseApdu, Ins, ppseName, StatusWord, tapwireAid, type CommandApdu } from "../../protocol/nfc-apdu.ts";
import { sameBytes } from "../../protocol/bytes.ts";
import { signCryptogram, type CryptogramInput } from "../../protocol/payer.ts";
import type { CardIdentity, VirtualCard } from "../pn532/field.ts";

export interface HceWalletOptions {
  walletId: string;
  privateKey: KeyObject;
  /** The ATC of the first transaction; every GPO after that uses the next one. */
  atcStart: number;
  /** 4-byte NFCID1; phones use a random one starting 08. */
  nfcId?: Uint8Array;
  /**
   * Called with the next ATC before a fresh cryptogram leaves, as a phone keeps its counter: one that stores it
   * (`tapwire sim serve pn532 --wallet-dir`) then never reuses an ATC after a restart (E310 CounterReplayed).
   */
  onAtcUsed?: (nextAtc: number) => void;
}

type Selected = "none" | "ppse" | "tapwire";

/**
 * A phone (or card) running the tapwire HCE wallet: answers SELECT PPSE, SELECT of the tapwire AID and
 * GET PROCESSING OPTIONS with an ES256 cryptogram over amount, currency, the hub's unpredictable number,
 * the hub id and its ATC. `replayNextCryptogram()` makes it answer the next GPO with the previous ATC and
 * cryptogram unchanged, as a cloned or recorded card would.
 */
export class HceWallet implements VirtualCard {
  readonly role = "card";
  readonly identity: CardIdentity;
  /** What the last fresh cryptogram was computed over, for tests that verify it. */
  lastCryptogramInput: CryptogramInput | undefined;
  private nextAtc: number;
  private selected: Selected = "none";
  private lastGpoResponse: Uint8Array | undefined;
  private replayNext = false;

  constructor(private readonly options: HceWalletOptions) {
    assert(isId(options.walletId), "wallet id must be a valid id");
    assert(Number.isInteger(options.atcStart) && options.atcStart >= 1 && options.atcStart <= 0xffff, "atcStart must be 1..65535");
    this.nextAtc = options.atcStart;
    const nfcId = options.nfcId ?? Uint8Array.of(0x08, 0x12, 0x34, 0x56);
    assert(nfcId.length === 4, "NFCID1 must be 4 bytes");
    // ATS: TL, T0 (FSCI 256 bytes, TA/TB/TC present), TA, TB, TC.
    this.identity = { sensRes: Uint8Array.of(0x00, 0x04), selRes: 0x20, nfcId, ats: Uint8Array.of(0x05, 0x78, 0x80, 0x70, 0x02) };
  }

  get walletId(): string {
    return this.options.walletId;
  }

  /** The ATC the next fresh cryptogram will carry. */
  get atc(): number {
    return this.nextAtc;
  }

  /** The next read answers with the last cryptogram again (a cloned phone): the service must refuse it. */
  replayNextCryptogram(): void {
    assert(this.lastGpoResponse !== undefined, "nothing to replay yet");
    this.replayNext = true;
  }

  /** Answers one APDU from the reader. */
  transceive(bytes: Uint8Array): Uint8Array {
    let apdu: CommandApdu;
    try {
      apdu = decodeCommandApdu(bytes);
    } catch {
      return status(StatusWord.wrongLength);
    }
    if (apdu.ins === Ins.select && apdu.cla === 0x00) return this.select(apdu);
    if (apdu.ins === Ins.getProcessingOptions && apdu.cla === 0x80) return this.processingOptions(apdu);
    return status(StatusWord.insNotSupported);
  }

  private select(apdu: CommandApdu): Uint8Array {
    if (apdu.p1 !== 0x04) return status(StatusWord.fileNotFound);
    if (sameBytes(apdu.data, ppseName)) {
      this.selected = "ppse";
      return encodeResponseApdu(encodePpseFci([tapwireAid]), StatusWord.ok);
    }
    if (sameBytes(apdu.data, tapwireAid)) {
      this.selected = "tapwire";
      return encodeResponseApdu(encodeAppFci(tapwireAid, "tapwire"), StatusWord.ok);
    }
    this.selected = "none";
    return status(StatusWord.fileNotFound);
  }

  private processingOptions(apdu: CommandApdu): Uint8Array {
    if (this.selected !== "tapwire") return status(StatusWord.conditionsNotSatisfied);
    this.selected = "none";
    if (this.replayNext && this.lastGpoResponse) {
      this.replayNext = false;
      return this.lastGpoResponse;
    }
    if (this.nextAtc > 0xffff) return status(StatusWord.conditionsNotSatisfied);
    let request;
    try {
      request = decodeGpoCommand(apdu);
    } catch {
      return status(StatusWord.wrongData);
    }
    const input: CryptogramInput = { walletId: this.options.walletId, ...request, atc: this.nextAtc++ };
    this.options.onAtcUsed?.(this.nextAtc);
    const cryptogram = signCryptogram(input, this.options.privateKey);
    this.lastCryptogramInput = input;
    const response = encodeResponseApdu(
      encodeGpoResponse({ walletId: input.walletId, atc: input.atc, cryptogram, cryptogramInfo: cidGoOnline }),
      StatusWord.ok,
    );
    this.lastGpoResponse = response;
    return response;
  }
}

function status(sw: number): Uint8Array {
  return encodeResponseApdu(new Uint8Array(0), sw);
}
