import { afterEach, describe, expect, it } from "vitest";
import { campaignAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import { AgentFixture, disputeOpen } from "../agents/fixtures.ts";
import { addCampaign, expectBooksBalanced } from "./preamble.ts";

let a: AgentFixture | undefined;
afterEach(async () => {
  await a?.close();
  a = undefined;
});

describe("a dispute on a discounted payment", () => {
  it("resolved for the payer: the customer gets back what they paid, the campaign its discount, once", async () => {
    a = await AgentFixture.create();
    const { f } = a;
    addCampaign(f, { rule: { kind: "amount_off", offMinor: 150 } });
    const paid = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 1_000).bytes);
    expect(paid.receipt).toMatchObject({ discountMinor: 150, campaignId: "c1" });
    const budgetAfterPayment = f.service.ledger.balanceOf(campaignAccountId("c1"));

    const opened = await a.fromWallet(f.wallet, disputeOpen(f.wallet, f.clock, paid.receipt!.paymentId));
    a.service.decideReview(opened.caseId!, "approve", "alice");

    expect(f.service.ledger.balanceOf(walletAccountId("w1"))).toBe(10_000);
    expect(f.service.ledger.balanceOf(campaignAccountId("c1"))).toBe(budgetAfterPayment + 150);
    expect(f.service.campaigns.get("c1").spentMinor).toBe(0);
    expectBooksBalanced(f);
  });
});
