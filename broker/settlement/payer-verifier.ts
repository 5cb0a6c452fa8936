import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { PayerCredential, PaymentRequest } from "../../protocol/messages.ts";
import type { SqliteDb } from "../ledger/sqlite-db.ts";
import type { Hub, Registry, Wallet } from "../registry/registry.ts";
import { inlineChecks, type SignatureChecks } from "./prechecks.ts";

export interface PayerContext {
  registry: Registry;
  /** The settlement database, inside the batch transaction: a verifier's own tables (schemaComponents) live here. */
  db: SqliteDb;
  /** The hub that sent the request (active, signature checked). */
  hub: Hub;
  nowMs: number;
  /** Signature checks a worker may already have made for this request (prechecks.ts); inline when absent. */
  checks?: SignatureChecks;
}

/**
 * Checks one kind of payer credential (`payer.kind`) inside the settlement transaction. It must verify the
 * credential against the wallet's enrolled key and consume whatever makes it single-use (a counter, a nonce),
 * so a payment declined later (limit, funds) still burns it. Throws a TapwireError to decline; returns the
 * wallet to charge, whose currency the caller checks against the payment's.
 */
export interface PayerVerifier {
  readonly kind: PayerCredential["kind"];
  verify(request: PaymentRequest, context: PayerContext): Wallet;
  /**
   * For payers that can confirm a held payment (step-up): checks a fresh, single-use proof that the person
   * is present, not bound to an amount, and returns their wallet. Kinds without it cannot answer a step-up.
   */
  verifyPresence?(payer: PayerCredential, context: PayerContext): Wallet;
}

/** EMV-style HCE: cryptogram over amount, currency, the hub's unpredictable number and a forward-only ATC. */
export const hceVerifier: PayerVerifier = {
  kind: "hce",
  verify(request, { registry, hub, checks = inlineChecks }) {
    const payer = request.payer;
    if (payer.kind !== "hce") throw new TapwireError(`hce verifier got ${payer.kind}`, ErrorCode.UnsupportedRequest);
    const wallet = registry.getWallet(payer.walletId);
    if (wallet.currency !== request.currency) {
      throw new TapwireError(`wallet holds ${wallet.currency}, payment is in ${request.currency}`, ErrorCode.CurrencyMismatch, {
        walletId: wallet.walletId,
      });
    }
    checks.verifyCryptogram(
      {
        walletId: wallet.walletId,
        hubId: hub.hubId,
        amountMinor: request.amountMinor,
        currency: request.currency,
        unpredictableNumber: payer.unpredictableNumber,
        atc: payer.atc,
      },
      payer.cryptogram,
      registry.walletPublicKey(wallet),
      wallet.publicKeyPem,
    );
    if (payer.atc <= wallet.lastAtc) {
      throw new TapwireError(`ATC ${payer.atc} is not above ${wallet.lastAtc}`, ErrorCode.CounterReplayed, {
        walletId: wallet.walletId,
        atc: payer.atc,
      });
    }
    registry.recordWalletAtc(wallet.walletId, payer.atc);
    return { ...wallet, lastAtc: payer.atc };
  },
};
