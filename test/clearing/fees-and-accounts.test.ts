import { describe, expect, it } from "vitest";
import { ibanChecksumHolds, parseBankAccount, parseBic, parseIban } from "../../broker/clearing/bank-account.ts";
import { utcDay } from "../../broker/clearing/clearing-date.ts";
import { feeOf, parseFeeSchedule } from "../../broker/clearing/fees.ts";
import { decimalOf } from "../../broker/clearing/settlement-files.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { codeOf } from "../settlement/preamble.ts";

describe("fees", () => {
  it("rounds the basis-point part half-up per payment, then adds the fixed part", () => {
    const schedule = { bps: 150, fixedMinor: 10 };

    // 1.5 % of 10.33 = 0.15495 → 0.15; of 10.34 = 0.1551 → 0.16; of 5.00 = 0.075 → 0.08 (half-up).
    expect([feeOf(schedule, 1_033), feeOf(schedule, 1_034), feeOf(schedule, 500), feeOf(schedule, 1_000)]).toEqual([25, 26, 18, 25]);
    expect(feeOf({ bps: 50, fixedMinor: 0 }, 100)).toBe(1);
    expect(feeOf({ bps: 50, fixedMinor: 0 }, 99)).toBe(0);
  });

  it("rounds on the currency's own minor unit: a JPY amount in yen rounds to the yen", () => {
    // 1.5 % of ¥999 = ¥14.985 → ¥15; the same rule on BHD fils: 1.5 % of 0.999 BHD = 14.985 fils → 15 fils.
    expect(feeOf({ bps: 150, fixedMinor: 0 }, 999)).toBe(15);
  });

  it("never charges more than the payment, and stays exact on the largest amounts", () => {
    expect(feeOf({ bps: 0, fixedMinor: 50 }, 20)).toBe(20);
    expect(feeOf({ bps: 10_000, fixedMinor: 0 }, 1_000_000_000_000)).toBe(1_000_000_000_000);
    expect(feeOf({ bps: 9_999, fixedMinor: 0 }, 999_999_999_999)).toBe(999_899_999_999);
  });

  it("refuses schedules outside 0-10000 bps or with a negative or fractional fixed part", () => {
    for (const bad of [{ bps: -1, fixedMinor: 0 }, { bps: 10_001, fixedMinor: 0 }, { bps: 1.5, fixedMinor: 0 }, { bps: 100, fixedMinor: -1 }, { bps: 100, fixedMinor: 0.5 }]) {
      expect(codeOf(() => parseFeeSchedule(bad))).toBe(ErrorCode.FeeScheduleInvalid);
    }
    expect(parseFeeSchedule({ bps: 150, fixedMinor: 10 })).toEqual({ bps: 150, fixedMinor: 10 });
  });
});

describe("bank accounts", () => {
  it("accepts IBANs whose mod-97 check digits hold, printed with spaces or in lower case", () => {
    expect(parseIban("DE89 3704 0044 0532 0130 00")).toBe("DE89370400440532013000");
    expect(parseIban("gb82west12345698765432")).toBe("GB82WEST12345698765432");
    expect(ibanChecksumHolds("FR1420041010050500013M02606")).toBe(true);
  });

  it("refuses a changed digit, swapped check digits or a malformed IBAN with IbanInvalid", () => {
    for (const bad of ["DE89370400440532013001", "DE98370400440532013000", "DE8937040044", "1289370400440532013000", "DE89-3704-0044-0532-0130-00"]) {
      expect(codeOf(() => parseIban(bad)), bad).toBe(ErrorCode.IbanInvalid);
    }
  });

  it("checks the BIC's shape and the holder's name", () => {
    expect(parseBic("cobadeffxxx")).toBe("COBADEFFXXX");
    expect(codeOf(() => parseBic("COBADE"))).toBe(ErrorCode.BicInvalid);
    expect(codeOf(() => parseBankAccount({ name: "", iban: "DE89370400440532013000", bic: "COBADEFF" }))).toBe(ErrorCode.PayeeNameInvalid);
    expect(codeOf(() => parseBankAccount({ name: "x".repeat(71), iban: "DE89370400440532013000", bic: "COBADEFF" }))).toBe(ErrorCode.PayeeNameInvalid);
  });
});

describe("clearing days and amounts", () => {
  it("takes a calendar day in YYYY-MM-DD as [00:00, 24:00) UTC, and nothing else", () => {
    expect(utcDay("2026-11-23")).toEqual({ date: "2026-11-23", startMs: Date.UTC(2026, 10, 23), endMs: Date.UTC(2026, 10, 24) });
    for (const bad of ["2026-02-30", "2026-11-23T00:00:00Z", "23.11.2026", ""]) expect(codeOf(() => utcDay(bad)), bad).toBe(ErrorCode.ClearingDateInvalid);
  });

  it("writes amounts with the currency's exponent", () => {
    expect([decimalOf(1_234, "EUR"), decimalOf(5, "EUR"), decimalOf(1_234, "JPY"), decimalOf(1_234, "BHD"), decimalOf(-250, "EUR")]).toEqual(["12.34", "0.05", "1234", "1.234", "-2.50"]);
  });
});
