import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { amountMinorMax } from "../../protocol/money.ts";
import { resolveReviewPolicy } from "../../broker/review/risk.ts";

describe("resolveReviewPolicy", () => {
  it("fills the defaults and leaves thresholds off when not given", () => {
    expect(resolveReviewPolicy()).toEqual({
      hubStepUpAboveMinor: undefined,
      humanReviewAboveMinor: undefined,
      reviewNewMerchants: false,
      stepUpTtlMs: 300_000,
      humanReviewTtlMs: 86_400_000,
      sweepIntervalMs: 1_000,
    });
  });

  it.each([
    { hubStepUpAboveMinor: 0 },
    { humanReviewAboveMinor: amountMinorMax + 1 },
    { humanReviewAboveMinor: 1.5 },
    { stepUpTtlMs: 999 },
    { humanReviewTtlMs: 30 * 86_400_000 + 1 },
    { sweepIntervalMs: 9 },
  ])("refuses %o with ConfigInvalid", (options) => {
    expect(() => resolveReviewPolicy(options)).toThrowError(expect.objectContaining({ code: ErrorCode.ConfigInvalid }));
  });
});
