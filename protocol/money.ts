import { ErrorCode, TapwireError } from "./errors.ts";

/** Money is an integer number of minor units plus an ISO 4217 currency. No floats anywhere near it. */
export interface Money {
  readonly amountMinor: number;
  readonly currency: string;
}

/** ISO 4217 codes tapwire accepts, with their minor-unit exponent. */
export const currencyExponents: Readonly<Record<string, number>> = {
  EUR: 2,
  USD: 2,
  GBP: 2,
  CHF: 2,
  CNY: 2,
  HKD: 2,
  SGD: 2,
  JPY: 0,
  KRW: 0,
  BHD: 3,
  KWD: 3,
};

/** The largest amount one message may carry: well inside Number.MAX_SAFE_INTEGER so sums stay exact. */
export const amountMinorMax = 1_000_000_000_000;

/** Whether `value` is an ISO 4217 code tapwire knows the minor-unit exponent of. */
export function isCurrency(value: string): boolean {
  return Object.hasOwn(currencyExponents, value);
}

export function assertMoney(amountMinor: unknown, currency: unknown): Money {
  if (typeof currency !== "string" || !isCurrency(currency)) {
    throw new TapwireError(`unknown currency ${JSON.stringify(currency)}`, ErrorCode.UnknownCurrency);
  }
  if (typeof amountMinor !== "number" || !Number.isSafeInteger(amountMinor)) {
    throw new TapwireError(`amount must be an integer of minor units, got ${String(amountMinor)}`, ErrorCode.InvalidMoney);
  }
  if (amountMinor <= 0 || amountMinor > amountMinorMax) {
    throw new TapwireError(`amount ${amountMinor} outside 1..${amountMinorMax} minor units`, ErrorCode.InvalidMoney);
  }
  return { amountMinor, currency };
}

/** For people, never for computation: `12.50 EUR`. */
export function formatMoney(money: Money): string {
  const exponent = currencyExponents[money.currency] ?? 2;
  const sign = money.amountMinor < 0 ? "-" : "";
  const digits = Math.abs(money.amountMinor).toString().padStart(exponent + 1, "0");
  const whole = exponent === 0 ? digits : digits.slice(0, -exponent);
  const fraction = exponent === 0 ? "" : `.${digits.slice(-exponent)}`;
  return `${sign}${whole}${fraction} ${money.currency}`;
}
