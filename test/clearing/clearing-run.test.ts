import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Clearing } from "../../broker/clearing/clearing.ts";
import { EvidenceStore } from "../../broker/evidence/evidence-store.ts";
import { merchantAccountId, payoutAccountId, type Ledger } from "../../broker/ledger/ledger.ts";
import { EvidenceReader } from "../../broker/merchant-events/evidence-reader.ts";
import { eventOf, RequestMerchants } from "../../broker/merchant-events/merchant-event.ts";
import type { MerchantEvent } from "../../protocol/merchant-feed.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { AgentFixture, disputeOpen } from "../agents/fixtures.ts";
import type { SettlementFixture } from "../settlement/fixtures.ts";
import { approvedPayment, codeOf } from "../settlement/preamble.ts";
import { clearingOf, nextDay, xmllintValidate } from "./fixtures.ts";

let a: AgentFixture;
let f: SettlementFixture;
beforeEach(async () => {
  a = await AgentFixture.create();
  f = a.f;
});
afterEach(async () => {
  await a.close();
});

const day = "2026-11-23";
const merchantBalance = () => f.service.ledger.balanceOf(merchantAccountId("m1"));

/** Four payments, a partial refund, a reversal and a dispute left open, all on 2026-11-23. */
async function busyDay(): Promise<{ disputedPaymentId: string; caseId: string }> {
  const p1 = await approvedPayment(f, 1_000);
  await approvedPayment(f, 2_000);
  const p3 = await approvedPayment(f, 500);
  const disputed = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 700).bytes);
  expect((await f.decisionFor(f.hub, f.hub.refund(p1, 300, "EUR").bytes)).status).toBe("approved");
  expect((await f.decisionFor(f.hub, f.hub.reversal(p3).bytes)).status).toBe("approved");
  const disputedPaymentId = disputed.receipt!.paymentId;
  const opened = await a.fromWallet(f.wallet, disputeOpen(f.wallet, f.clock, disputedPaymentId));
  return { disputedPaymentId, caseId: opened.caseId! };
}

function paidRun(result: ReturnType<Clearing["run"]>) {
  if (result.outcome === "empty") throw new Error("expected a recorded run");
  return result.run;
}

describe("a clearing run of a merchant's day", () => {
  it("nets captures, a refund, a reversal and a disputed payment held back, less fees, and pays out the rest", async () => {
    const clearing = clearingOf(f);
    await busyDay();
    nextDay(f);

    const run = paidRun(clearing.run("m1", day));

    // Fees 1.5 % + 0.10 each: 1000 → 25, 2000 → 40, 500 → 18 (7.5 half-up), 700 → 21 (10.5 half-up).
    expect(run.figures).toMatchObject({
      payments: 4,
      salesMinor: 4_200,
      refundsMinor: 300,
      reversalsMinor: 500,
      movementsMinor: 3_400,
      disputeHoldsMinor: 700,
      feesMinor: 104,
      netMinor: 2_596,
    });
    expect(run.outcome).toBe("paid");
    expect(f.service.ledger.findTransfer(run.payoutTransferId!)).toMatchObject({ amountMinor: 2_596, kind: "payout", creditAccountId: payoutAccountId("EUR") });
    expect(f.service.ledger.findTransfer(run.feeTransferId!)).toMatchObject({ amountMinor: 104, kind: "clearing_fee" });
    expect(merchantBalance()).toBe(700);
    f.service.ledger.checkInvariants();
    expect(f.service.verifyEvidence().problems).toEqual([]);
  });

  it("run twice: the same files byte for byte, one set of postings, one evidence row, books balanced", async () => {
    const clearing = clearingOf(f);
    await busyDay();
    nextDay(f);
    const first = paidRun(clearing.run("m1", day));
    const filesFirst = clearing.filesOf(first);
    const transfers = f.service.ledger.transferCount();
    const evidence = new EvidenceStore(f.service.database).count();
    f.clock.advance(3 * 3_600_000);

    const again = clearing.run("m1", day);
    const filesAgain = clearing.filesOf(paidRun(again));

    expect(again).toMatchObject({ outcome: "paid", replayed: true });
    expect(filesAgain.csv).toBe(filesFirst.csv);
    expect(filesAgain.pain001).toBe(filesFirst.pain001);
    expect(filesAgain.reconciliation).toBe(filesFirst.reconciliation);
    expect(f.service.ledger.transferCount()).toBe(transfers);
    expect(new EvidenceStore(f.service.database).count()).toBe(evidence);
    expect(f.service.database.prepare("SELECT COUNT(*) FROM clearing_runs").pluck().get()).toBe(1);
    f.service.ledger.checkInvariants();
  });

  it("writes a pain.001.001.03 that validates against the ISO 20022 XSD, dated from the run's record", async () => {
    const clearing = clearingOf(f);
    await busyDay();
    nextDay(f);
    const run = paidRun(clearing.run("m1", day));

    const xml = clearing.filesOf(run).pain001!;

    expect(xmllintValidate(xml)).toEqual({ code: 0, output: expect.stringContaining("validates") });
    expect(xml).toContain('<InstdAmt Ccy="EUR">25.96</InstdAmt>');
    expect(xml).toContain("<CreDtTm>2026-11-24T01:00:00Z</CreDtTm>");
    expect(xml).toContain(`<IBAN>${"DE89370400440532013000"}</IBAN>`);
    expect(xmllintValidate(xml.replace("<PmtMtd>TRF</PmtMtd>", "")).code).not.toBe(0);
  });

  it("ties each payout to the transfers it nets: their sum less holds equals payout plus fees, to the cent", async () => {
    const clearing = clearingOf(f);
    await busyDay();
    nextDay(f);
    const run = paidRun(clearing.run("m1", day));

    const report = JSON.parse(clearing.filesOf(run).reconciliation) as {
      payoutMinor: number;
      feesMinor: number;
      netted: Array<{ transferId: number; signedMinor: number }>;
      posted: Array<{ role: string; transferId: number; amountMinor: number }>;
      disputeHolds: Array<{ amountMinor: number }>;
    };
    const nettedMinor = report.netted.reduce((sum, t) => sum + t.signedMinor, 0);
    const heldMinor = report.disputeHolds.reduce((sum, h) => sum + h.amountMinor, 0);

    expect(nettedMinor - heldMinor).toBe(report.payoutMinor + report.feesMinor);
    for (const t of report.netted) expect(f.service.ledger.findTransfer(t.transferId)).toBeDefined();
    expect(report.posted).toEqual([
      { role: "fee", transferId: run.feeTransferId, amountMinor: 104, creditAccountId: "fees:EUR" },
      { role: "payout", transferId: run.payoutTransferId, amountMinor: 2_596, creditAccountId: "payout:EUR" },
    ]);
    expect(report.netted).toHaveLength(6);
  });

  it("releases a hold once its dispute is decided: the refund and the release net out on the day they happen", async () => {
    const clearing = clearingOf(f);
    const { caseId } = await busyDay();
    nextDay(f);
    clearing.run("m1", day);

    a.service.decideReview(caseId, "approve", "alice");
    nextDay(f);
    const next = paidRun(clearing.run("m1", "2026-11-24"));

    expect(next.figures).toMatchObject({ disputeRefundsMinor: 700, holdsReleasedMinor: 700, netMinor: 0 });
    expect(next.payoutTransferId).toBeUndefined();
    expect(clearing.filesOf(next).pain001).toBeUndefined();
    expect(merchantBalance()).toBe(0);
    f.service.ledger.checkInvariants();
    expect(f.service.verifyEvidence().problems).toEqual([]);
  });

  it("a day with nothing on it: no run, no payout line, the outcome says so", async () => {
    const clearing = clearingOf(f);
    nextDay(f);

    expect(clearing.run("m1", day)).toEqual({ outcome: "empty", merchantId: "m1", businessDate: day });
    expect(f.service.database.prepare("SELECT COUNT(*) FROM clearing_runs").pluck().get()).toBe(0);
  });

  it("refunds above the day's sales: negative_net, nothing posted, carried into the next run of the merchant", async () => {
    const clearing = clearingOf(f);
    f.clock.advance(11 * 3_600_000);
    const p1 = await approvedPayment(f, 1_000);
    nextDay(f);
    await f.decisionFor(f.hub, f.hub.refund(p1, 800, "EUR").bytes);
    nextDay(f);
    const transfers = f.service.ledger.transferCount();

    const refundDay = paidRun(clearing.run("m1", "2026-11-24"));
    const postedAfterNegative = f.service.ledger.transferCount();
    const saleDay = paidRun(clearing.run("m1", day));

    expect(refundDay).toMatchObject({ outcome: "negative_net", figures: { movementsMinor: -800, netMinor: -800 } });
    expect(postedAfterNegative).toBe(transfers);
    expect(clearing.filesOf(refundDay).pain001).toBeUndefined();
    expect(saleDay.figures).toMatchObject({ salesMinor: 1_000, carriedInMinor: -800, feesMinor: 25, netMinor: 175 });
    expect(merchantBalance()).toBe(0);
    const report = JSON.parse(clearing.filesOf(saleDay).reconciliation) as { payoutMinor: number; feesMinor: number; netted: Array<{ signedMinor: number }>; carriedFromRunIds: number[] };
    const nettedMinor = report.netted.reduce((sum, t) => sum + t.signedMinor, 0);
    expect(nettedMinor + saleDay.figures.carriedInMinor).toBe(report.payoutMinor + report.feesMinor);
    expect(report.carriedFromRunIds).toEqual([refundDay.runId]);
    f.service.ledger.checkInvariants();
  });

  it("a run broken off inside its transaction leaves nothing posted, and a rerun then clears the day", async () => {
    const clearing = clearingOf(f);
    await busyDay();
    nextDay(f);
    const transfers = f.service.ledger.transferCount();
    const evidence = new EvidenceStore(f.service.database).count();
    const ledger = f.service.ledger;
    const crashing: Ledger = Object.assign(Object.create(ledger) as Ledger, {
      postLinked: (legs: Parameters<Ledger["postLinked"]>[0]) => {
        ledger.postLinked(legs);
        throw new Error("process killed after posting");
      },
    });
    const interrupted = new Clearing({ db: f.service.database, ledger: crashing, registry: f.service.registry, evidence: new EvidenceStore(f.service.database), clock: f.clock });

    expect(() => interrupted.run("m1", day)).toThrow("process killed after posting");
    expect(f.service.ledger.transferCount()).toBe(transfers);
    expect(new EvidenceStore(f.service.database).count()).toBe(evidence);
    expect(f.service.database.prepare("SELECT COUNT(*) FROM clearing_runs").pluck().get()).toBe(0);

    const rerun = paidRun(clearing.run("m1", day));

    expect(rerun.figures.netMinor).toBe(2_596);
    expect(f.service.ledger.transferCount()).toBe(transfers + 2);
    f.service.ledger.checkInvariants();
  });

  it("refuses an unknown merchant, a day not yet over, and a payout without payee", async () => {
    const clearing = clearingOf(f);
    await approvedPayment(f, 1_000);
    f.service.registry.enrollMerchant({ merchantId: "m2", currency: "EUR" });
    clearing.setFees("m2", { bps: 0, fixedMinor: 0 });
    const m2 = f.enrollHub("h-m2", "m2");
    expect((await f.decisionFor(m2, m2.paymentRequest(f.wallet, 400).bytes)).status).toBe("approved");

    expect(codeOf(() => clearing.run("nobody", day))).toBe(ErrorCode.UnknownMerchant);
    expect(codeOf(() => clearing.setFees("nobody", { bps: 1, fixedMinor: 0 }))).toBe(ErrorCode.UnknownMerchant);
    expect(codeOf(() => clearing.run("m1", day))).toBe(ErrorCode.ClearingDayOpen);
    nextDay(f);
    expect(codeOf(() => clearing.run("m2", day))).toBe(ErrorCode.PayeeMissing);
    expect(codeOf(() => clearing.setPayee("m2", { name: "Shop 2", iban: "DE89370400440532013001", bic: "COBADEFFXXX" }))).toBe(ErrorCode.IbanInvalid);
    expect(f.service.database.prepare("SELECT COUNT(*) FROM clearing_runs").pluck().get()).toBe(0);
  });

  it("records the payout in the evidence chain, which still verifies, and the merchant's events show it", async () => {
    const clearing = clearingOf(f);
    await busyDay();
    nextDay(f);
    const run = paidRun(clearing.run("m1", day));

    const reader = new EvidenceReader(f.databasePath);
    const requests = new RequestMerchants(1_000);
    const events = reader
      .entriesAfter(0, 1_000)
      .map((entry) => eventOf(entry, { merchantOfHub: (hubId) => reader.merchantOfHub(hubId), merchantOfPayment: (paymentId) => reader.merchantOfPayment(paymentId), requests }))
      .filter((e): e is MerchantEvent => e !== undefined);
    reader.close();

    expect(events.filter((e) => e.type === "payout")).toEqual([
      expect.objectContaining({ merchantId: "m1", amountMinor: 2_596, currency: "EUR", requestId: `payout:m1/${day}`, atMs: run.createdAtMs, reason: `cleared ${day}: 25.96 EUR paid out, 1.04 EUR fees` }),
    ]);
    expect(f.service.verifyEvidence()).toMatchObject({ ok: true, problems: [] });
  });
});
