import { createHash } from "node:crypto";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { FxQuote, RoundingRule } from "../../protocol/fx.ts";
import { fxAccountId, merchantAccountId, type Ledger, type TransferInput } from "../ledger/ledger.ts";
import { StatementCache } from "../ledger/sqlite-db.ts";
import { convertMinor, givenBackPayerMinor } from "./convert.ts";
import type { RateTable } from "./rate-table.ts";
import type { SqlDb } from "../../core/sql-db.ts";

/** A payment's quote as the books keep it, with the account the payer's side was debited. */
export interface PaymentQuote {
  paymentId: number;
  quote: FxQuote;
  payerAccountId: string;
}

interface QuoteRow {
  payment_id: number;
  quote_id: string;
  rate: string;
  rounding: RoundingRule;
  rate_source: string;
  merchant_currency: string;
  merchant_amount_minor: number;
  payer_currency: string;
  payer_amount_minor: number;
  payer_account_id: string;
}

/**
 * The quote id of a payment: the same for every retry of one request (`<hubId>/<requestId>`), so a provider asked
 * twice about one payment sees one quote, and a quote never names two payments.
 */
export function quoteIdFor(reference: string): string {
  return `q-${createHash("sha256").update(reference).digest("hex").slice(0, 32)}`;
}

/**
 * Cross-currency payments: locks a quote from the rate table, posts a converted payment through the FX position
 * accounts (the payer's currency into its position, the merchant's out of its own), and gives money back at the
 * payment's own quote. Inside the caller's transaction; nothing here opens one.
 */
export class FxDesk {
  private readonly statements: StatementCache;

  constructor(
    db: SqlDb,
    private readonly rates: RateTable,
  ) {
    this.statements = new StatementCache(db);
  }

  /** A quote for paying merchantMinor of merchantCurrency from payerCurrency at the rate valid at nowMs. */
  quote(reference: string, merchantMinor: number, merchantCurrency: string, payerCurrency: string, nowMs: number): FxQuote {
    const rate = this.rates.rateAt(merchantCurrency, payerCurrency, nowMs);
    const payerMinor = convertMinor(merchantMinor, merchantCurrency, payerCurrency, rate.rate, rate.rounding);
    if (payerMinor === 0) {
      throw new TapwireError(`${merchantMinor} ${merchantCurrency} rounds to nothing in ${payerCurrency}`, ErrorCode.FxAmountOutOfRange);
    }
    return {
      quoteId: quoteIdFor(reference),
      rate: rate.rate,
      rounding: rate.rounding,
      rateSource: rate.source,
      merchantAmountMinor: merchantMinor,
      merchantCurrency,
      payerAmountMinor: payerMinor,
      payerCurrency,
    };
  }

  /** The two legs of a converted payment: payer → fx:<payer currency>, fx:<merchant currency> → merchant. */
  paymentLegs(quote: FxQuote, payerAccountId: string, merchantId: string, reference: string, ledger: Ledger): TransferInput[] {
    ledger.ensureAccount(fxAccountId(quote.payerCurrency), quote.payerCurrency);
    ledger.ensureAccount(fxAccountId(quote.merchantCurrency), quote.merchantCurrency);
    return [
      { debitAccountId: payerAccountId, creditAccountId: fxAccountId(quote.payerCurrency), amountMinor: quote.payerAmountMinor, currency: quote.payerCurrency, kind: "fx_payment", reference },
      { debitAccountId: fxAccountId(quote.merchantCurrency), creditAccountId: merchantAccountId(merchantId), amountMinor: quote.merchantAmountMinor, currency: quote.merchantCurrency, kind: "payment", reference },
    ];
  }

  record(paymentId: number, quote: FxQuote, payerAccountId: string, nowMs: number): void {
    this.statements
      .sql<[number, string, string, string, string, string, number, string, number, string, number]>(
        `INSERT INTO fx_payment_quotes (payment_id, quote_id, rate, rounding, rate_source, merchant_currency, merchant_amount_minor,
           payer_currency, payer_amount_minor, payer_account_id, quoted_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(paymentId, quote.quoteId, quote.rate, quote.rounding, quote.rateSource, quote.merchantCurrency, quote.merchantAmountMinor, quote.payerCurrency, quote.payerAmountMinor, payerAccountId, nowMs);
  }

  /** The quote a payment was converted at; undefined for a payment in one currency. */
  find(paymentId: number): PaymentQuote | undefined {
    const row = this.statements.sql<[number], QuoteRow>("SELECT * FROM fx_payment_quotes WHERE payment_id = ?").get(paymentId);
    if (!row) return undefined;
    return {
      paymentId: row.payment_id,
      payerAccountId: row.payer_account_id,
      quote: {
        quoteId: row.quote_id,
        rate: row.rate,
        rounding: row.rounding,
        rateSource: row.rate_source,
        merchantAmountMinor: row.merchant_amount_minor,
        merchantCurrency: row.merchant_currency,
        payerAmountMinor: row.payer_amount_minor,
        payerCurrency: row.payer_currency,
      },
    };
  }

  /**
   * Giving backMinor of a converted payment back, of which givenBackMinor went back before, at the payment's own
   * rate: merchant → fx:<merchant currency>, and fx:<payer currency> → payer unless the payer's share rounds to 0.
   * Returns the legs and the quote the decision carries (this give-back's amounts, the payment's quote id and rate).
   */
  giveBack(paid: PaymentQuote, merchantId: string, givenBackMinor: number, backMinor: number, kind: string, reference: string): { legs: TransferInput[]; quote: FxQuote } {
    const { quote } = paid;
    const payerMinor = givenBackPayerMinor(quote, givenBackMinor, backMinor);
    const legs: TransferInput[] = [
      { debitAccountId: merchantAccountId(merchantId), creditAccountId: fxAccountId(quote.merchantCurrency), amountMinor: backMinor, currency: quote.merchantCurrency, kind, reference },
    ];
    if (payerMinor > 0) {
      legs.push({ debitAccountId: fxAccountId(quote.payerCurrency), creditAccountId: paid.payerAccountId, amountMinor: payerMinor, currency: quote.payerCurrency, kind: `fx_${kind}`, reference });
    }
    return { legs, quote: { ...quote, merchantAmountMinor: backMinor, payerAmountMinor: payerMinor } };
  }
}
