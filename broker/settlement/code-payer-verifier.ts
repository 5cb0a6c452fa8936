import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { PaymentRequest } from "../../protocol/messages.ts";
import { verifyPaymentCode } from "../../protocol/payment-code.ts";
import { StatementCache, type SchemaComponent } from "../ledger/sqlite-db.ts";
import type { Wallet } from "../registry/principals.ts";
import type { PayerContext, PayerVerifier } from "./payer-verifier.ts";
import type { SqlDb } from "../../core/sql-db.ts";

/** Each payment code pays once; its row is kept this long past its expiry, so a clock stepped back cannot revive it. */
export const usedCodeRetentionMs = 3_600_000;
/** Expired rows deleted per payment, at most: pruning costs every payment a little and never one a lot. */
const prunePerPayment = 16;

export const paymentCodeSchema: SchemaComponent = {
  name: "payment_codes",
  migrations: [
    {
      version: 1,
      description: "payment codes already paid with",
      sql: `
        CREATE TABLE payment_codes_used (
          wallet_id TEXT NOT NULL,
          code_id TEXT NOT NULL,
          exp_ms INTEGER NOT NULL,
          consumed_at_ms INTEGER NOT NULL,
          PRIMARY KEY (wallet_id, code_id)
        ) STRICT;
        CREATE INDEX payment_codes_used_by_exp ON payment_codes_used (exp_ms);
      `,
    },
  ],
};

/**
 * Paid with the wallet's dynamic payment code, scanned by the merchant's hub: the code must verify with the
 * wallet's enrolled key, name that wallet, be within its lifetime, and not have paid before.
 */
export class CodePayerVerifier implements PayerVerifier {
  readonly kind = "code" as const;
  private readonly statements = new WeakMap<SqlDb, StatementCache>();

  /** `skewMs`: how far the phone's clock may run ahead of the service's (the contract's clockSkewMs). */
  constructor(private readonly skewMs: number) {}

  verify(request: PaymentRequest, { registry, db, nowMs }: PayerContext): Wallet {
    const payer = request.payer;
    if (payer.kind !== "code") throw new TapwireError(`code verifier got ${payer.kind}`, ErrorCode.UnsupportedRequest);
    const wallet = registry.getActiveWallet(payer.walletId);
    if (wallet.currency !== request.currency) {
      throw new TapwireError(`wallet holds ${wallet.currency}, payment is in ${request.currency}`, ErrorCode.CurrencyMismatch, { walletId: wallet.walletId });
    }
    const claim = verifyPaymentCode(payer.code, { walletId: wallet.walletId, publicKey: registry.walletPublicKey(wallet), nowMs, skewMs: this.skewMs });
    const sql = this.statementsOf(db);
    sql
      .sql<[number, number]>(
        "DELETE FROM payment_codes_used WHERE (wallet_id, code_id) IN (SELECT wallet_id, code_id FROM payment_codes_used WHERE exp_ms < ? ORDER BY exp_ms LIMIT ?)",
      )
      .run(nowMs - usedCodeRetentionMs, prunePerPayment);
    const consumed = sql
      .sql<[string, string, number, number]>("INSERT INTO payment_codes_used (wallet_id, code_id, exp_ms, consumed_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
      .run(wallet.walletId, claim.codeId, claim.exp, nowMs);
    if (consumed.changes === 0) throw new TapwireError("payment code already used", ErrorCode.NonceReplayed, { walletId: wallet.walletId, codeId: claim.codeId });
    return wallet;
  }

  private statementsOf(db: SqlDb): StatementCache {
    let cache = this.statements.get(db);
    if (!cache) {
      cache = new StatementCache(db);
      this.statements.set(db, cache);
    }
    return cache;
  }
}
