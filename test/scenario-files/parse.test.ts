import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { parseScenario } from "../../simulator/scenario-files/load-scenario.ts";
import { parseDurationMs, parseMoney } from "../../simulator/scenario-files/units.ts";
import { approvedSale, problemPaths } from "./fixture.ts";

const parse = (text: string) => () => parseScenario(text, "test.yaml");

describe("scenario files: units", () => {
  it("reads durations as whole virtual milliseconds, signed where a skew needs it", () => {
    expect(["250ms", "1.5s", "2m", "1h", "-30s", "0.001s"].map(parseDurationMs)).toEqual([250, 1_500, 120_000, 3_600_000, -30_000, 1]);
    expect(["1.5", "1.2345s", "1.5ms", "s", "10 s"].map(parseDurationMs)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });

  it("reads money as minor units with exactly the currency's decimals", () => {
    expect(parseMoney("12.50 EUR")).toEqual({ amountMinor: 1_250, currency: "EUR" });
    expect(parseMoney("12 EUR")).toEqual({ amountMinor: 1_200, currency: "EUR" });
    expect(parseMoney("500 JPY")).toEqual({ amountMinor: 500, currency: "JPY" });
    expect(parseMoney("1.234 BHD")).toEqual({ amountMinor: 1_234, currency: "BHD" });
    for (const bad of ["12.5 EUR", "12.505 EUR", "5.00 JPY", "12.50 XXX", "12.50", "-1.00 EUR"]) expect(parseMoney(bad)).toBeUndefined();
  });
});

describe("scenario files: parsing and validation", () => {
  it("turns a valid file into steps and expectations in integers, each window opening at the last step before it closes", () => {
    const scenario = parseScenario(approvedSale, "test.yaml");

    expect(scenario).toMatchObject({ name: "one approved sale", seed: 7, timeoutMs: 60_000 });
    expect(scenario.steps.map((step) => [step.atMs, step.action.name])).toEqual([[1_000, "sale"], [2_000, "tap"], [5_000, "remove"]]);
    expect(scenario.steps[0]!.action).toEqual({ name: "sale", spec: { hub: "h1", amount: { amountMinor: 450, currency: "EUR" }, mode: "reader" } });
    expect(scenario.expectations.map(({ fromMs, toMs, exact }) => ({ fromMs, toMs, exact }))).toEqual([
      { fromMs: 2_000, toMs: 5_000, exact: false },
      { fromMs: 5_000, toMs: 30_000, exact: false },
    ]);
  });

  it("refuses a file that is not YAML, with ConfigInvalid", () => {
    expect(parse("world: [unclosed")).toThrow(expect.objectContaining({ code: ErrorCode.ConfigInvalid }));
    expect(problemPaths(parse("a: 1\na: 2\n"))).toEqual(["(yaml)"]);
  });

  it("names the path of every bad value at once", () => {
    const text = approvedSale.replace(`amount: "4.50 EUR"`, `amount: "4.5 EUR"`).replace("timeoutMs: 60s", "timeoutMs: soon").replace("funds: \"50.00 EUR\"", "funds: 50");

    expect(problemPaths(parse(text)).sort()).toEqual(["timeoutMs", "world.wallets.0.funds"]);
    expect(problemPaths(parse(approvedSale.replace(`amount: "4.50 EUR"`, `amount: "4.5 EUR"`)))).toEqual(["steps.0.sale.amount"]);
  });

  it("refuses a step or an expectation with no action, two actions, or an unknown one", () => {
    const twoActions = approvedSale.replace("{ at: 5s, remove: { hub: h1 } }", "{ at: 5s, remove: { hub: h1 }, cancel: { hub: h1 } }");
    const unknown = approvedSale.replace("{ at: 5s, remove: { hub: h1 } }", "{ at: 5s, wave: { hub: h1 } }");
    const badCheck = approvedSale.replace("{ within: 5s, sale:", "{ within: 5s, sael:");

    expect(problemPaths(parse(twoActions))).toEqual(["steps.2"]);
    expect(problemPaths(parse(unknown))).toEqual(["steps.2"]);
    expect(problemPaths(parse(badCheck))).toEqual(["expect.0"]);
  });

  it("refuses unknown fields, faults and codes, and timings that contradict each other", () => {
    const extraField = approvedSale.replace("mode: reader }", "mode: reader, tip: 1 }");
    const badFault = approvedSale.replace("{ at: 5s, remove: { hub: h1 } }", "{ at: 5s, fault: { kind: meteor, hub: h1 } }");
    const badCode = approvedSale.replace("code: 0", "code: NoSuchCode");
    const atAndWithin = approvedSale.replace("{ within: 5s, sale:", "{ at: 4s, within: 5s, sale:");

    expect(problemPaths(parse(extraField))).toEqual(["steps.0.sale"]);
    expect(problemPaths(parse(badFault))).toEqual(["steps.2.fault.kind"]);
    expect(problemPaths(parse(badCode))).toEqual(["expect.0.sale.code"]);
    expect(problemPaths(parse(atAndWithin))).toEqual(["expect.0"]);
  });

  it("refuses references to what the world does not have, ids defined twice, and amounts in another currency", () => {
    const unknownHub = approvedSale.replace("tap: { hub: h1", "tap: { hub: h9");
    const unknownRef = approvedSale.replace("sale: { ref: s1", "sale: { ref: s9");
    const twice = approvedSale.replace("{ id: w1, funds", "{ id: w1, funds: \"1.00 EUR\", perPaymentMax: \"1.00 EUR\" }\n    - { id: w1, funds");
    const currency = approvedSale.replace(`"wallet:w1": "45.50 EUR"`, `"wallet:w1": "45.50 USD"`);
    const unknownAccount = approvedSale.replace(`"wallet:w1"`, `"wallet:w9"`);

    expect(problemPaths(parse(unknownHub))).toEqual(["steps.1.tap.hub"]);
    expect(problemPaths(parse(unknownRef))).toEqual(["expect.0.sale.ref"]);
    expect(problemPaths(parse(twice))).toEqual(["world.wallets.1.id"]);
    expect(problemPaths(parse(currency))).toEqual(["expect.1.balances[\"wallet:w1\"]"]);
    expect(problemPaths(parse(unknownAccount))).toEqual(["expect.1.balances[\"wallet:w9\"]"]);
  });
});
