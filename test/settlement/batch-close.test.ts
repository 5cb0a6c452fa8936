import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import type { SettlementFixture } from "./fixtures.ts";
import { approvedPayment, freshFixtureEachTest } from "./preamble.ts";

let f: SettlementFixture;
freshFixtureEachTest((created) => (f = created));

const paid = (amountMinor: number) => approvedPayment(f, amountMinor);

describe("batch close", () => {
  it("approves matching totals net of reversals and starts the next batch empty", async () => {
    await paid(100);
    const reversed = await paid(200);
    await paid(300);
    await f.decisionFor(f.hub, f.hub.reversal(reversed).bytes);

    const close = await f.decisionFor(f.hub, f.hub.batchClose({ batchId: "b1", currency: "EUR", count: 2, totalMinor: 400 }).bytes);
    const next = await f.decisionFor(f.hub, f.hub.batchClose({ batchId: "b2", currency: "EUR", count: 0, totalMinor: 0 }).bytes);

    expect(close).toMatchObject({
      status: "approved",
      batch: { batchId: "b1", hubCount: 2, hubTotalMinor: 400, serviceCount: 2, serviceTotalMinor: 400, matched: true },
    });
    expect(next.batch?.matched).toBe(true);
    expect(f.service.paymentsOf("m1").map((p) => p.batchId)).toEqual(["b1", undefined, "b1"]);
  });

  it("sends a mismatch to human review with the report, keeps it, and accepts a corrected close once", async () => {
    await paid(100);

    const mismatch = await f.decisionFor(f.hub, f.hub.batchClose({ batchId: "b1", currency: "EUR", count: 1, totalMinor: 150 }).bytes);
    const stored = f.service.batchReportsOf("h1");
    const corrected = await f.decisionFor(f.hub, f.hub.batchClose({ batchId: "b1", currency: "EUR", count: 1, totalMinor: 100 }).bytes);
    const again = await f.decisionFor(f.hub, f.hub.batchClose({ batchId: "b1", currency: "EUR", count: 0, totalMinor: 0 }).bytes);

    expect(mismatch).toMatchObject({
      status: "human_review",
      code: ErrorCode.BatchMismatch,
      caseId: "b1",
      batch: { hubCount: 1, hubTotalMinor: 150, serviceCount: 1, serviceTotalMinor: 100, matched: false },
    });
    expect(stored).toEqual([expect.objectContaining({ batchId: "b1", matched: false, hubTotalMinor: 150, serviceTotalMinor: 100 })]);
    expect(corrected.status).toBe("approved");
    expect(again.code).toBe(ErrorCode.BatchAlreadyClosed);
    expect(f.service.batchReportsOf("h1")).toEqual([expect.objectContaining({ batchId: "b1", matched: true })]);
  });

  it("counts each hub separately", async () => {
    await paid(100);
    const h2 = f.enrollHub("h2", "m1");

    const close = await f.decisionFor(h2, h2.batchClose({ batchId: "b1", currency: "EUR", count: 0, totalMinor: 0 }).bytes);

    expect(close.status).toBe("approved");
    expect(f.service.paymentsOf("m1")[0]!.batchId).toBeUndefined();
  });
});
