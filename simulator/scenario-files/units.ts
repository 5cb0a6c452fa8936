import { z } from "zod";
import { ErrorCode } from "../../protocol/errors.ts";
import { amountMinorMax, currencyExponents, isCurrency, type Money } from "../../protocol/money.ts";

/**
 * The values a scenario file writes the way people do: durations (`1.5s`, `250ms`, `2m`, `1h`, or a plain number
 * of milliseconds), money (`12.50 EUR`, exactly as many decimals as the currency has) and error codes (`302` or
 * `InsufficientFunds`). Each parses to integers: milliseconds, minor units, code numbers.
 */

/** The longest virtual time a scenario may name: a day is far more than any wait of the stack. */
export const scenarioMsMax = 24 * 3_600_000;

const unitMs: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const durationPattern = /^(-)?(\d{1,9})(?:\.(\d{1,3}))?(ms|s|m|h)$/;

/** Milliseconds of a duration text, or undefined when it is not one (fractions finer than a millisecond are refused). */
export function parseDurationMs(text: string): number | undefined {
  const match = durationPattern.exec(text.trim());
  if (!match) return undefined;
  const [, sign, whole, fraction = "", unit] = match;
  const scale = unitMs[unit!]!;
  const fractionMs = (Number(fraction.padEnd(3, "0")) * scale) / 1_000;
  if (!Number.isInteger(fractionMs)) return undefined;
  const ms = Number(whole) * scale + fractionMs;
  return sign ? -ms : ms;
}

function durationOf(min: number) {
  return z.union([z.number(), z.string()]).transform((value, context) => {
    const ms = typeof value === "number" ? value : parseDurationMs(value);
    if (ms === undefined || !Number.isSafeInteger(ms) || ms < min || ms > scenarioMsMax) {
      context.addIssue({ code: "custom", message: `must be a duration between ${min} ms and ${scenarioMsMax} ms such as 1.5s, 250ms, 2m or 1h, got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return ms;
  });
}

/** A virtual time or span, 0 or more. */
export const durationSchema = durationOf(0);
/** A span that must last (at least a millisecond). */
export const positiveDurationSchema = durationOf(1);
/** A clock offset, either way (`-30s`). */
export const signedDurationSchema = durationOf(-scenarioMsMax);

/** `12.50 EUR` (or `12 EUR`) as minor units; undefined unless it is an amount in a known currency with exactly its decimals. */
export function parseMoney(text: string): Money | undefined {
  const match = /^(\d{1,13})(?:\.(\d{1,3}))?\s+([A-Z]{3})$/.exec(text.trim());
  if (!match) return undefined;
  const [, whole, fraction = "", currency = ""] = match;
  if (!isCurrency(currency)) return undefined;
  const exponent = currencyExponents[currency]!;
  if (fraction.length !== 0 && fraction.length !== exponent) return undefined;
  const amountMinor = Number(whole) * 10 ** exponent + Number(fraction.padEnd(exponent, "0") || "0");
  return Number.isSafeInteger(amountMinor) && amountMinor <= amountMinorMax ? { amountMinor, currency } : undefined;
}

function moneyOf(min: number) {
  return z.string().transform((text, context) => {
    const money = parseMoney(text);
    if (money === undefined || money.amountMinor < min) {
      context.addIssue({ code: "custom", message: `must be an amount of at least ${min} minor units with its currency, such as "12.50 EUR" (the currency's own decimals), got ${JSON.stringify(text)}` });
      return z.NEVER;
    }
    return money;
  });
}

/** An amount to pay: more than nothing. */
export const moneySchema = moneyOf(1);
/** A balance or a fund: zero allowed. */
export const balanceSchema = moneyOf(0);

const codeNumbers = new Map<string, number>(Object.entries(ErrorCode));
const knownCodes = new Set<number>([0, ...codeNumbers.values()]);

/** An error code as its number or its name (protocol/errors.ts), or 0 for approved. */
export const codeSchema = z.union([z.number(), z.string()]).transform((value, context) => {
  const code = typeof value === "number" ? value : codeNumbers.get(value);
  if (code === undefined || !knownCodes.has(code)) {
    context.addIssue({ code: "custom", message: `must be 0 or an error code of protocol/errors.ts, by number or name (302, InsufficientFunds), got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return code;
});

export const countSchema = z.number().int().min(0).max(1_000_000);
