import { describe, expect, it } from "vitest";
import { campaignAccountId, merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import type { SettlementFixture } from "../settlement/fixtures.ts";
import { addCampaign, campaignFixtureEachTest, campaignOf, campaignTransfers, expectBooksBalanced, pay } from "./preamble.ts";

let f: SettlementFixture;
campaignFixtureEachTest((created) => (f = created));

const balances = () => [walletAccountId("w1"), merchantAccountId("m1"), campaignAccountId("c1")].map((id) => f.service.ledger.balanceOf(id));

describe("a reversal of a discounted payment", () => {
  it("gives the customer their part and the campaign its discount back, and frees the customer's discount", async () => {
    addCampaign(f, { budgetMinor: 1_000 });
    const paid = await pay(f, 1_000);

    const reversal = await f.decisionFor(f.hub, f.hub.reversal(paid.requestId).bytes);
    expectBooksBalanced(f);
    const again = await pay(f, 1_000);

    expect(reversal).toMatchObject({ status: "approved", receipt: { amountMinor: 1_000, discountMinor: 150, campaignId: "c1" } });
    const [, , returned] = campaignTransfers(f);
    expect(returned).toMatchObject({ kind: "campaign_return", debitAccountId: "merchant:m1", amountMinor: 150, postedAtMs: reversal.receipt?.postedAtMs });
    expect(again.receipt?.discountMinor).toBe(150);
    expect(balances()).toEqual([10_000 - 850, 1_000, 850]);
    expect(campaignOf(f)).toMatchObject({ spentMinor: 150, discountsGiven: 2 });
  });

  it("after partial refunds, returns what is left of each part", async () => {
    addCampaign(f, { budgetMinor: 1_000 });
    const paid = await pay(f, 1_000);
    await f.decisionFor(f.hub, f.hub.refund(paid.requestId, 333, "EUR").bytes);

    const reversal = await f.decisionFor(f.hub, f.hub.reversal(paid.requestId).bytes);

    // 333 of 1 000 gave the campaign floor(333 × 150 / 1 000) = 49; the reversal brings it to 150.
    expect(reversal.receipt).toMatchObject({ amountMinor: 667, discountMinor: 101 });
    expect(balances()).toEqual([10_000, 0, 1_000]);
    expect(campaignOf(f).spentMinor).toBe(0);
  });
});

describe("refunds of a discounted payment", () => {
  it("split each refund in proportion, floored for the campaign step by step, the last one exact", async () => {
    addCampaign(f, { budgetMinor: 1_000 });
    const paid = await pay(f, 1_000);

    const shares = [];
    for (const amountMinor of [333, 333, 334]) {
      const refund = await f.decisionFor(f.hub, f.hub.refund(paid.requestId, amountMinor, "EUR").bytes);
      shares.push(refund.receipt?.discountMinor);
      expectBooksBalanced(f);
    }

    expect(shares).toEqual([49, 50, 51]);
    expect(balances()).toEqual([10_000, 0, 1_000]);
    expect(campaignOf(f).spentMinor).toBe(0);
  });

  it("a refund whose whole amount is the campaign's share posts only the campaign's leg", async () => {
    addCampaign(f, { rule: { kind: "amount_off", offMinor: 99 } });
    const paid = await pay(f, 100);

    const first = await f.decisionFor(f.hub, f.hub.refund(paid.requestId, 1, "EUR").bytes);
    const second = await f.decisionFor(f.hub, f.hub.refund(paid.requestId, 1, "EUR").bytes);

    // floor(1 × 99 / 100) = 0 to the campaign, then floor(2 × 99 / 100) − 0 = 1.
    expect([first.receipt?.discountMinor, second.receipt?.discountMinor]).toEqual([0, 1]);
    expect(f.service.ledger.balanceOf(walletAccountId("w1"))).toBe(10_000 - 1 + 1);
    expect(campaignTransfers(f).map((t) => t.kind)).toEqual(["funding", "campaign_discount", "campaign_return"]);
  });

  it("frees the customer's discount only once the whole payment is refunded", async () => {
    addCampaign(f);
    const paid = await pay(f, 1_000);
    await f.decisionFor(f.hub, f.hub.refund(paid.requestId, 500, "EUR").bytes);

    const whileHalf = await pay(f, 1_000);
    await f.decisionFor(f.hub, f.hub.refund(paid.requestId, 500, "EUR").bytes);
    const afterWhole = await pay(f, 1_000);

    expect([whileHalf.receipt?.discountMinor, afterWhole.receipt?.discountMinor]).toEqual([undefined, 150]);
  });

  it("refuses more than was captured, as for any payment, without touching the campaign", async () => {
    addCampaign(f);
    const paid = await pay(f, 1_000);

    const tooMuch = await f.decisionFor(f.hub, f.hub.refund(paid.requestId, 1_001, "EUR").bytes);

    expect(tooMuch.code).toBe(ErrorCode.RefundExceedsCaptured);
    expect(campaignOf(f).spentMinor).toBe(150);
  });

  it("a campaign stopped since still takes its discount back", async () => {
    addCampaign(f);
    const paid = await pay(f, 1_000);
    f.service.campaigns.stop("c1", "alice");

    await f.decisionFor(f.hub, f.hub.reversal(paid.requestId).bytes);

    expect(campaignOf(f)).toMatchObject({ status: "stopped", spentMinor: 0 });
    expect(f.service.ledger.balanceOf(campaignAccountId("c1"))).toBe(10_000);
  });
});
