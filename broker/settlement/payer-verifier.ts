import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { HceCredential, PayerCredential, PaymentRequest } from "../../protocol/messages.ts";
import type { AtcRule, Hub, Wallet } from "../registry/principals.ts";
import type { Registry } from "../registry/registry.ts";
import { inlineChecks, type SignatureChecks } from "./prechecks.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export interface PayerContext {
  registry: Registry;
  /** The settlement database, inside the batch transaction: a verifier's own tables (schemaComponents) live here. */
  db: SqlDb;
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

/**
 * EMV-style HCE: the cryptogram over amount, currency, the hub's unpredictable number and the ATC must verify
 * with the wallet's key, and the ATC is consumed under `rule` (forward-only for a payment made now).
 */
export function verifyHce(
  payer: HceCredential,
  sale: { amountMinor: number; currency: string },
  { registry, hub, nowMs, checks = inlineChecks }: PayerContext,
  rule: AtcRule,
): Wallet {
  // The wallet's currency may differ from the sale's (a converted payment, captures.ts): the cryptogram is over
  // what the terminal showed.
  const wallet = registry.getActiveWallet(payer.walletId);
  checks.verifyCryptogram(
    {
      walletId: wallet.walletId,
      hubId: hub.hubId,
      amountMinor: sale.amountMinor,
      currency: sale.currency,
      unpredictableNumber: payer.unpredictableNumber,
      atc: payer.atc,
    },
    payer.cryptogram,
    registry.walletPublicKey(wallet),
    wallet.publicKeyPem,
  );
  registry.consumeWalletAtc(wallet.walletId, payer.atc, rule, nowMs);
  return { ...wallet, lastAtc: Math.max(wallet.lastAtc, payer.atc) };
}

export const hceVerifier: PayerVerifier = {
  kind: "hce",
  verify(request, context) {
    const payer = request.payer;
    if (payer.kind !== "hce") throw new TapwireError(`hce verifier got ${payer.kind}`, ErrorCode.UnsupportedRequest);
    return verifyHce(payer, request, context, "forward");
  },
};
