import { z } from "zod";
import { idSchema } from "./ids.ts";
import { amountMinorMax, isCurrency } from "./money.ts";

/**
 * A locked exchange quote, as a signed decision carries it (`fx`) and a provider authorization names it. The rate
 * is a decimal string, never a float: how many units of the payer's currency one unit of the merchant's buys
 * (`162.53` JPY per EUR). Both amounts are integer minor units, each on its currency's exponent (money.ts), and
 * the payer's amount is the merchant's converted under `rounding` (fx convert.ts). A refund names the quote of
 * the payment it gives back, converted at that quote's rate, whatever the rate table says by then.
 */
export const roundingRules = ["half_up", "half_even"] as const;
/** `half_up`: a half rounds away from zero; `half_even` (banker's): a half rounds to the even neighbour. */
export type RoundingRule = (typeof roundingRules)[number];

/** Digits a rate may have on each side of the point. */
export const rateDigitsMax = 12;
/** A positive decimal with at most rateDigitsMax digits before and after the point, no sign, no exponent. */
export const ratePattern = /^(0|[1-9][0-9]{0,11})(\.[0-9]{1,12})?$/;

const currency = z.string().refine(isCurrency, "unknown ISO 4217 currency");
const amountMinor = z.number().int().min(1).max(amountMinorMax);

export const fxQuoteSchema = z.object({
  quoteId: idSchema,
  /** Payer-currency units per one merchant-currency unit, a decimal string. */
  rate: z.string().regex(ratePattern, "a decimal rate"),
  rounding: z.enum(roundingRules),
  /** Where the rate came from (`ecb-2026-11-23`), as the rate table names it. */
  rateSource: z.string().min(1).max(64),
  merchantAmountMinor: amountMinor,
  merchantCurrency: currency,
  /** At least 1 on a payment; a small refund's share may round to 0 in a currency with fewer decimals. */
  payerAmountMinor: z.number().int().min(0).max(amountMinorMax),
  payerCurrency: currency,
});
/** A locked quote: the rate, both amounts in minor units, the rounding rule, and the quote's id. */
export type FxQuote = z.infer<typeof fxQuoteSchema>;
