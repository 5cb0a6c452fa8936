import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { ratePattern, type RoundingRule } from "../../protocol/fx.ts";
import { amountMinorMax, currencyExponents } from "../../protocol/money.ts";

/**
 * Exact conversion between minor units of two currencies, in BigInt: a rate is read from its decimal text into
 * an integer ratio (digits / 10^scale) and never becomes a float, so the same inputs give the same minor units
 * on every machine and in every year.
 */
export interface ExactRate {
  /** The rate's digits without the point: `162.53` → 16253n. */
  digits: bigint;
  /** Digits after the point: `162.53` → 2. */
  scale: number;
}

/** Parses a decimal rate (protocol/fx.ts ratePattern); zero or anything else is FxRateInvalid. */
export function parseRate(text: string): ExactRate {
  if (!ratePattern.test(text)) throw new TapwireError(`rate ${JSON.stringify(text)} is not a decimal like 162.53`, ErrorCode.FxRateInvalid);
  const [whole, fraction = ""] = text.split(".");
  const digits = BigInt(`${whole}${fraction}`);
  if (digits === 0n) throw new TapwireError(`rate ${text} is not positive`, ErrorCode.FxRateInvalid);
  return { digits, scale: fraction.length };
}

/** n / d rounded under `rule`; n ≥ 0, d > 0. */
export function divideRounded(n: bigint, d: bigint, rule: RoundingRule): bigint {
  assert(n >= 0n && d > 0n, "divideRounded takes a non-negative numerator and a positive divisor");
  const quotient = n / d;
  const twiceRemainder = (n % d) * 2n;
  if (twiceRemainder < d) return quotient;
  if (twiceRemainder > d) return quotient + 1n;
  return rule === "half_up" || quotient % 2n === 1n ? quotient + 1n : quotient;
}

function exponentOf(currency: string): number {
  const exponent = currencyExponents[currency];
  assert(exponent !== undefined, `currency ${currency} has an exponent`);
  return exponent;
}

/**
 * `merchantMinor` of the merchant's currency in minor units of the payer's, at `rate` (payer units per merchant
 * unit), rounded once under `rule`: merchantMinor × rate × 10^payerExp / 10^merchantExp. May return 0.
 */
export function convertMinor(merchantMinor: number, merchantCurrency: string, payerCurrency: string, rate: string, rule: RoundingRule): number {
  assert(Number.isSafeInteger(merchantMinor) && merchantMinor >= 0, `amount ${merchantMinor} is a non-negative integer`);
  const { digits, scale } = parseRate(rate);
  const numerator = BigInt(merchantMinor) * digits * 10n ** BigInt(exponentOf(payerCurrency));
  const divisor = 10n ** BigInt(scale + exponentOf(merchantCurrency));
  const payerMinor = divideRounded(numerator, divisor, rule);
  if (payerMinor > BigInt(amountMinorMax)) {
    throw new TapwireError(`${merchantMinor} ${merchantCurrency} at ${rate} is beyond ${amountMinorMax} ${payerCurrency} minor units`, ErrorCode.FxAmountOutOfRange);
  }
  return Number(payerMinor);
}

/**
 * The payer-currency share of giving back `backMinor` of a converted payment of which `givenBackMinor` (merchant
 * currency) went back before: the difference of two cumulative conversions at the payment's own rate, so however
 * a payment is refunded in parts, the parts add up to exactly what the payer paid.
 */
export function givenBackPayerMinor(
  quote: { rate: string; rounding: RoundingRule; merchantCurrency: string; payerCurrency: string },
  givenBackMinor: number,
  backMinor: number,
): number {
  const convert = (m: number) => convertMinor(m, quote.merchantCurrency, quote.payerCurrency, quote.rate, quote.rounding);
  return convert(givenBackMinor + backMinor) - convert(givenBackMinor);
}
