import { describe, expect, it } from "vitest";
import { parseCampaignDefinition } from "../../broker/campaigns/campaign-definition.ts";
import { campaignShareOf, discountFor, mulDivFloor, utcDayOf } from "../../broker/campaigns/campaign-rules.ts";
import { ErrorCode, isTapwireError, type TapwireError } from "../../protocol/errors.ts";
import { amountMinorMax } from "../../protocol/money.ts";
import { SeededRandom } from "../../core/sources.ts";

const valid = {
  campaignId: "new-year",
  currency: "EUR",
  rule: { kind: "percent", percentBps: 1_000, capMinor: 500 },
  budgetMinor: 100_000,
  startsAtMs: 1_000,
  endsAtMs: 2_000,
};

function refusal(input: unknown): TapwireError {
  try {
    parseCampaignDefinition(input);
  } catch (error) {
    if (isTapwireError(error)) return error;
    throw error;
  }
  throw new Error("the definition was accepted");
}

const pathsOf = (error: TapwireError) => (error.context?.["details"] as string[]).map((detail) => detail.slice(0, detail.indexOf(":")));

describe("discount arithmetic", () => {
  it("takes an amount off, never the whole payment", () => {
    const rule = { kind: "amount_off" as const, offMinor: 150 };

    expect([discountFor(rule, 1_000), discountFor(rule, 151), discountFor(rule, 150), discountFor(rule, 1)]).toEqual([150, 150, 149, 0]);
  });

  it("floors a percentage to the minor unit and caps it", () => {
    const rule = { kind: "percent" as const, percentBps: 500, capMinor: 120 };

    expect([discountFor(rule, 999), discountFor(rule, 1_000), discountFor(rule, 5_000), discountFor(rule, 19)]).toEqual([49, 50, 120, 0]);
  });

  it("stays exact where the product leaves the safe-integer range", () => {
    expect(mulDivFloor(amountMinorMax, 9_999, 10_000)).toBe(999_900_000_000);
    expect(discountFor({ kind: "percent", percentBps: 10_000, capMinor: amountMinorMax }, amountMinorMax)).toBe(amountMinorMax - 1);
    expect(campaignShareOf(amountMinorMax - 1, amountMinorMax, amountMinorMax - 3, 3)).toBe(3);
  });

  it("gives the campaign exactly its discount back over any partial refunds, floored step by step", () => {
    const random = new SeededRandom(7);
    const below = (n: number) => Buffer.from(random.bytes(2)).readUInt16BE() % n;
    for (let trial = 0; trial < 200; trial += 1) {
      const amountMinor = 2 + below(5_000);
      const discountMinor = 1 + below(amountMinor - 1);
      let givenMinor = 0;
      let campaignMinor = 0;
      for (let step = 0; givenMinor < amountMinor && step < amountMinor; step += 1) {
        const givingMinor = Math.min(amountMinor - givenMinor, 1 + below(700));
        const share = campaignShareOf(discountMinor, amountMinor, givenMinor, givingMinor);
        expect(share).toBeGreaterThanOrEqual(0);
        expect(share).toBeLessThanOrEqual(givingMinor);
        givenMinor += givingMinor;
        campaignMinor += share;
        expect(campaignMinor).toBe(mulDivFloor(givenMinor, discountMinor, amountMinor));
      }
      expect(campaignMinor).toBe(discountMinor);
    }
  });

  it("counts days in UTC", () => {
    expect(utcDayOf(Date.UTC(2026, 0, 1, 23, 59, 59, 999)) + 1).toBe(utcDayOf(Date.UTC(2026, 0, 2)));
  });
});

describe("campaign definitions", () => {
  it("fills in the defaults: one discount per customer, minimum one unit, full price when exhausted", () => {
    expect(parseCampaignDefinition(valid)).toEqual({ ...valid, minAmountMinor: 1, perCustomerMax: 1, onExhausted: "full_price" });
  });

  it.each([
    ["a float budget", { budgetMinor: 10.5 }, ["budgetMinor"]],
    ["a zero budget and a negative minimum", { budgetMinor: 0, minAmountMinor: -1 }, ["budgetMinor", "minAmountMinor"]],
    ["percent above a whole", { rule: { kind: "percent", percentBps: 10_001, capMinor: 5 } }, ["rule.percentBps"]],
    ["percent without a cap", { rule: { kind: "percent", percentBps: 100 } }, ["rule.capMinor"]],
    ["an unknown rule", { rule: { kind: "cashback_x2", offMinor: 5 } }, ["rule.kind"]],
    ["an unknown currency", { currency: "EURO" }, ["currency"]],
    ["a bad id", { campaignId: "new year/2026" }, ["campaignId"]],
    ["a misspelt limit", { perCustomerMaximum: 3 }, ["(definition)"]],
    ["a zero per-day limit", { perDayMax: 0 }, ["perDayMax"]],
    ["an unknown exhaustion rule", { onExhausted: "panic" }, ["onExhausted"]],
    ["a budget as text", { budgetMinor: "1000" }, ["budgetMinor"]],
  ])("refuses %s: ConfigInvalid naming the path", (_, change: object, paths: string[]) => {
    const error = refusal({ ...valid, ...change });

    expect(error.code).toBe(ErrorCode.ConfigInvalid);
    expect(pathsOf(error)).toEqual(paths);
  });

  it.each([
    ["ends before it starts", { endsAtMs: 1_000 }],
    ["lasts longer than a year and a day", { endsAtMs: 1_000 + 367 * 86_400_000 }],
  ])("refuses a window that %s", (_, change: object) => {
    const error = refusal({ ...valid, ...change });

    expect(error.code).toBe(ErrorCode.ConfigInvalid);
    expect(pathsOf(error)).toEqual(["endsAtMs"]);
  });
});
