import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { convertMinor, divideRounded, givenBackPayerMinor } from "../../broker/fx/convert.ts";
import { FxDesk } from "../../broker/fx/fx-desk.ts";
import { RateTable, type FxRate } from "../../broker/fx/rate-table.ts";
import { openSqliteDb, type SqliteDb } from "../../broker/ledger/sqlite-db.ts";
import { serviceSchema } from "../../broker/settlement/service-schema.ts";
import { ManualClock } from "../../core/sources.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { codeOf } from "../settlement/preamble.ts";
import { currencyExponents } from "../../protocol/money.ts";

describe("FX conversion in integer minor units", () => {
  it("knows the exponents of JPY, EUR and KWD", () => {
    expect([currencyExponents["JPY"], currencyExponents["EUR"], currencyExponents["KWD"]]).toEqual([0, 2, 3]);
  });

  it("rounds a half up or to even, as the quote says", () => {
    expect([divideRounded(5n, 2n, "half_up"), divideRounded(5n, 2n, "half_even")]).toEqual([3n, 2n]);
    expect([divideRounded(7n, 2n, "half_up"), divideRounded(7n, 2n, "half_even")]).toEqual([4n, 4n]);
    expect([divideRounded(26n, 10n, "half_even"), divideRounded(24n, 10n, "half_up")]).toEqual([3n, 2n]);
  });

  it("converts EUR cents to yen (exponent 2 → 0)", () => {
    expect(convertMinor(100, "EUR", "JPY", "162.53", "half_even")).toBe(163);
    // 1.00 EUR at 162.5 is 162.5 yen: a tie.
    expect(convertMinor(100, "EUR", "JPY", "162.5", "half_even")).toBe(162);
    expect(convertMinor(100, "EUR", "JPY", "162.5", "half_up")).toBe(163);
    expect(convertMinor(100, "EUR", "JPY", "163.5", "half_even")).toBe(164);
    expect(convertMinor(1_250, "EUR", "JPY", "162.53", "half_up")).toBe(2_032);
  });

  it("converts EUR cents to KWD fils (exponent 2 → 3)", () => {
    // 1.00 EUR at 0.3345 is 334.5 fils.
    expect(convertMinor(100, "EUR", "KWD", "0.3345", "half_even")).toBe(334);
    expect(convertMinor(100, "EUR", "KWD", "0.3345", "half_up")).toBe(335);
    expect(convertMinor(3, "EUR", "KWD", "0.3345", "half_up")).toBe(10);
  });

  it("converts yen to EUR cents and KWD fils to yen (exponent 0 → 2, 3 → 0)", () => {
    expect(convertMinor(1_000, "JPY", "EUR", "0.00615", "half_even")).toBe(615);
    expect(convertMinor(1, "JPY", "EUR", "0.005", "half_even")).toBe(0);
    expect(convertMinor(1, "JPY", "EUR", "0.005", "half_up")).toBe(1);
    expect(convertMinor(1_500, "KWD", "JPY", "486.5", "half_even")).toBe(730);
  });

  it("refuses a rate that is not a positive decimal, and amounts beyond the message limit", () => {
    for (const rate of ["1e3", "-1", "0", "0.000", "1,5", " 1", "01.5"]) {
      expect(codeOf(() => convertMinor(100, "EUR", "JPY", rate, "half_up"))).toBe(ErrorCode.FxRateInvalid);
    }
    expect(codeOf(() => convertMinor(1_000_000_000_000, "EUR", "KWD", "999", "half_up"))).toBe(ErrorCode.FxAmountOutOfRange);
  });

  it("gives back in parts that add up to exactly what the payer paid", () => {
    const quote = { rate: "162.53", rounding: "half_even" as const, merchantCurrency: "EUR", payerCurrency: "JPY" };
    const paidMinor = convertMinor(999, "EUR", "JPY", quote.rate, quote.rounding);
    const parts = [1, 333, 1, 333, 331].map((back, i, all) => givenBackPayerMinor(quote, all.slice(0, i).reduce((a, b) => a + b, 0), back));
    expect(parts.reduce((a, b) => a + b, 0)).toBe(paidMinor);
    expect(parts.every((p) => p >= 0)).toBe(true);
  });
});

describe("the rate table", () => {
  const clock = new ManualClock(1_000_000);
  let db: SqliteDb;
  let table: RateTable;
  const rate = (overrides: Partial<FxRate> = {}): FxRate => ({ base: "EUR", quote: "JPY", rate: "162.53", rounding: "half_even", source: "test", fromMs: 1_000, toMs: 2_000, ...overrides });

  beforeEach(() => {
    db = openSqliteDb({ path: ":memory:", components: serviceSchema([]), clock });
    table = new RateTable(db);
  });
  afterEach(() => db.close());

  it("applies a rate from fromMs (inclusive) to toMs (exclusive)", () => {
    table.load([rate()], clock.nowMs());
    expect(codeOf(() => table.rateAt("EUR", "JPY", 999))).toBe(ErrorCode.FxRateMissing);
    expect(table.rateAt("EUR", "JPY", 1_000).rate).toBe("162.53");
    expect(table.rateAt("EUR", "JPY", 1_999).rate).toBe("162.53");
    expect(codeOf(() => table.rateAt("EUR", "JPY", 2_000))).toBe(ErrorCode.FxRateMissing);
  });

  it("has no inverse rates: a pair is looked up as loaded", () => {
    table.load([rate()], clock.nowMs());
    expect(codeOf(() => table.rateAt("JPY", "EUR", 1_500))).toBe(ErrorCode.FxRateMissing);
  });

  it("lets the window that starts latest win, and of two alike the one loaded last", () => {
    table.load([rate(), rate({ rate: "170", fromMs: 1_500, toMs: 3_000 })], clock.nowMs());
    expect(table.rateAt("EUR", "JPY", 1_499).rate).toBe("162.53");
    expect(table.rateAt("EUR", "JPY", 1_500).rate).toBe("170");
    table.load([rate({ rate: "171", fromMs: 1_500, toMs: 3_000, source: "correction" })], clock.nowMs());
    expect(table.rateAt("EUR", "JPY", 2_500)).toMatchObject({ rate: "171", source: "correction" });
  });

  it("loads all of a file or nothing", () => {
    expect(codeOf(() => table.load([rate(), rate({ toMs: 1_000 })], clock.nowMs()))).toBe(ErrorCode.FxRateInvalid);
    expect(codeOf(() => table.load([rate({ quote: "XXX" })], clock.nowMs()))).toBe(ErrorCode.FxRateInvalid);
    expect(codeOf(() => table.load([rate({ quote: "EUR" })], clock.nowMs()))).toBe(ErrorCode.FxRateInvalid);
    expect(codeOf(() => table.load([rate({ rate: "1.5e2" })], clock.nowMs()))).toBe(ErrorCode.FxRateInvalid);
    expect(table.list(100)).toEqual([]);
  });

  it("locks a quote with both amounts, the rule and an id that is the same for every retry of a payment", () => {
    table.load([rate({ rounding: "half_up" })], clock.nowMs());
    const desk = new FxDesk(db, table);
    const quote = desk.quote("h1/r1", 1_250, "EUR", "JPY", 1_500);
    expect(quote).toMatchObject({ rate: "162.53", rounding: "half_up", merchantAmountMinor: 1_250, payerAmountMinor: 2_032, payerCurrency: "JPY", rateSource: "test" });
    expect(desk.quote("h1/r1", 1_250, "EUR", "JPY", 1_600).quoteId).toBe(quote.quoteId);
    expect(desk.quote("h1/r2", 1_250, "EUR", "JPY", 1_600).quoteId).not.toBe(quote.quoteId);
    expect(codeOf(() => desk.quote("h1/r3", 1_250, "EUR", "JPY", 2_000))).toBe(ErrorCode.FxRateMissing);
  });

  it("declines an amount that rounds to nothing in the payer's currency", () => {
    table.load([rate({ base: "JPY", quote: "EUR", rate: "0.004" })], clock.nowMs());
    expect(codeOf(() => new FxDesk(db, table).quote("h1/r1", 1, "JPY", "EUR", 1_500))).toBe(ErrorCode.FxAmountOutOfRange);
  });
});
