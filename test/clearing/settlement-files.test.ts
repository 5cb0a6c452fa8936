import { describe, expect, it } from "vitest";
import type { ClearingRun } from "../../broker/clearing/clearing-store.ts";
import { computeFigures } from "../../broker/clearing/run-figures.ts";
import { pain001Xml, statementCsv } from "../../broker/clearing/settlement-files.ts";
import type { Transfer } from "../../broker/ledger/ledger.ts";
import { debtor, xmllintValidate } from "./fixtures.ts";

const sale = (transferId: number, amountMinor: number, currency: string): Transfer => ({
  transferId,
  debitAccountId: "wallet:w1",
  creditAccountId: "merchant:m-jp",
  amountMinor,
  currency,
  kind: "payment",
  reference: `h1/r${transferId}`,
  postedAtMs: Date.UTC(2026, 10, 23, 9),
});

function runOf(currency: string, amounts: number[], payeeName: string): ClearingRun {
  const figures = computeFigures({
    accountId: "merchant:m-jp",
    currency,
    movements: amounts.map((amountMinor, i) => sale(i + 1, amountMinor, currency)),
    schedule: { bps: 150, fixedMinor: 0 },
    disputeHoldsMinor: 0,
    holdsReleasedMinor: 0,
    carriedInMinor: 0,
    carriedInFeesMinor: 0,
  });
  return {
    runId: 7,
    merchantId: "m-jp",
    businessDate: "2026-11-23",
    currency,
    outcome: "paid",
    figures,
    payee: { name: payeeName, iban: "FR1420041010050500013M02606", bic: "PSSTFRPPXXX" },
    debtor,
    feeTransferId: 10,
    payoutTransferId: 11,
    createdAtMs: Date.UTC(2026, 10, 24, 0, 5, 0, 123),
  };
}

describe("settlement files", () => {
  it("writes a yen payout without decimals and without SEPA terms, still valid pain.001", () => {
    const run = runOf("JPY", [999, 1_001], "Kissa <Tanaka> & Sons");

    const xml = pain001Xml(run);

    // Fees 1.5 % half-up per payment on the yen: 999 → 15, 1001 → 15; net 1970.
    expect(run.figures).toMatchObject({ feesMinor: 30, netMinor: 1_970 });
    expect(xml).toContain('<InstdAmt Ccy="JPY">1970</InstdAmt>');
    expect(xml).toContain("<Nm>Kissa &lt;Tanaka&gt; &amp; Sons</Nm>");
    expect(xml).toContain("<CreDtTm>2026-11-24T00:05:00Z</CreDtTm>");
    expect(xml).not.toContain("SEPA");
    expect(xmllintValidate(xml).code).toBe(0);
  });

  it("quotes CSV fields that hold a comma or a quote", () => {
    const run = { ...runOf("BHD", [1_234], "x"), merchantId: 'shop,"one"' };

    const [, line] = statementCsv(run).split("\n");

    expect(line).toMatch(/^"shop,""one""",2026-11-23,BHD,paid,1,1\.234,/);
  });
});
