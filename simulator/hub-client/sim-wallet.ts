import type { KeyObject } from "node:crypto";
import { assert } from "../../core/assert.ts";
import { isId } from "../../protocol/ids.ts";
import type { HceCredential } from "../../protocol/messages.ts";
import { isCurrency } from "../../protocol/money.ts";
import { signCryptogram } from "../../protocol/payer.ts";

/** The ATC is two bytes on an EMV card; a wallet that used them all can no longer pay. */
export const atcMax = 0xffff;

export interface SimWalletOptions {
  walletId: string;
  currency: string;
  /** The wallet's enrolled P-256 key (what its secure element would hold). */
  privateKey: KeyObject;
  /** ATC of the first cryptogram; the service refuses any ATC not above the last one it accepted. Default 1. */
  atcStart?: number;
}

/** What the hub (the terminal) sends the phone in GET PROCESSING OPTIONS. */
export interface TerminalData {
  hubId: string;
  amountMinor: number;
  currency: string;
  unpredictableNumber: Uint8Array;
}

/**
 * A phone or card at the level the settlement service sees it: for each tap, an HCE credential whose
 * cryptogram covers amount, currency, the hub and its unpredictable number, with an ATC that only moves
 * forward. (simulator/phones/hce-wallet.ts is the same wallet at the APDU level, for the NFC stack.)
 */
export class SimWallet {
  private nextAtc: number;

  constructor(private readonly options: SimWalletOptions) {
    assert(isId(options.walletId), "walletId must be an id");
    assert(isCurrency(options.currency), "currency must be an ISO 4217 code tapwire knows");
    const atcStart = options.atcStart ?? 1;
    assert(Number.isInteger(atcStart) && atcStart >= 1 && atcStart <= atcMax, `atcStart must be 1..${atcMax}`);
    this.nextAtc = atcStart;
  }

  get walletId(): string {
    return this.options.walletId;
  }

  get currency(): string {
    return this.options.currency;
  }

  /** The ATC the next credential will carry. */
  get atc(): number {
    return this.nextAtc;
  }

  /** Answers one GET PROCESSING OPTIONS: consumes the next ATC. */
  credential(terminal: TerminalData): HceCredential {
    assert(this.nextAtc <= atcMax, `wallet ${this.walletId} used all ${atcMax} ATCs; enrol more wallets for longer runs`);
    const atc = this.nextAtc;
    this.nextAtc += 1;
    const cryptogram = signCryptogram({ walletId: this.walletId, ...terminal, atc }, this.options.privateKey);
    // Copies: the credential owns its bytes, whatever buffer the caller's number lives in.
    return { kind: "hce", walletId: this.walletId, atc, unpredictableNumber: new Uint8Array(terminal.unpredictableNumber), cryptogram: new Uint8Array(cryptogram) };
  }
}
