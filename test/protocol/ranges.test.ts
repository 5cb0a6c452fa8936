import { describe, expect, it } from "vitest";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { assertInRanges, assertNoProblems, rangeProblems, type Ranges } from "../../core/ranges.ts";

interface Options {
  timeoutMs: number;
  retriesMax: number;
  name: string;
}

const ranges: Ranges<Options> = { timeoutMs: [1, 1_000, "milliseconds"], retriesMax: [0, 5, "retries"] };

function caught(run: () => unknown): TapwireError {
  try {
    run();
  } catch (error) {
    if (error instanceof TapwireError) return error;
    throw error;
  }
  throw new Error("expected a TapwireError");
}

describe("rangeProblems", () => {
  it("accepts both bounds and ignores keys without a range", () => {
    expect(rangeProblems({ timeoutMs: 1, retriesMax: 5, name: "" }, ranges)).toEqual([]);
    expect(rangeProblems({ timeoutMs: 1_000, retriesMax: 0, name: "x" }, ranges)).toEqual([]);
  });

  it("reports one problem per key below, above, fractional or not a number, named with the prefix", () => {
    const keys = (values: Options): string[] => rangeProblems(values, ranges, "opt.").map((p) => p.split(":")[0]!);
    expect(keys({ timeoutMs: 0, retriesMax: 6, name: "" })).toEqual(["opt.timeoutMs", "opt.retriesMax"]);
    expect(keys({ timeoutMs: 1.5, retriesMax: 2, name: "" })).toEqual(["opt.timeoutMs"]);
    expect(keys({ timeoutMs: Number.NaN, retriesMax: 2, name: "" })).toEqual(["opt.timeoutMs"]);
    expect(keys({ timeoutMs: "10" as unknown as number, retriesMax: Infinity, name: "" })).toEqual(["opt.timeoutMs", "opt.retriesMax"]);
  });
});

describe("assertInRanges", () => {
  it("returns the values unchanged when all are in range", () => {
    const values = { timeoutMs: 10, retriesMax: 1, name: "a" };
    expect(assertInRanges(values, ranges, "test options")).toBe(values);
  });

  it("throws ConfigInvalid listing every problem in context.details", () => {
    const error = caught(() => assertInRanges({ timeoutMs: 2_000, retriesMax: -1, name: "" }, ranges, "test options"));
    expect(error.code).toBe(ErrorCode.ConfigInvalid);
    expect((error.context?.["details"] as string[]).length).toBe(2);
  });

  it("assertNoProblems passes an empty list and throws ConfigInvalid otherwise", () => {
    expect(() => assertNoProblems([], "x")).not.toThrow();
    expect(caught(() => assertNoProblems(["a: bad"], "x")).code).toBe(ErrorCode.ConfigInvalid);
  });
});
