import { describe, expect, it } from "vitest";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import type { Decision } from "../../protocol/messages.ts";
import type { FixtureOptions, SettlementFixture, TestHub, TestWallet } from "../settlement/fixtures.ts";
import { addCampaign, campaignFixtureEachTest, campaignOf, campaignTransfers } from "./preamble.ts";

const hubCount = 20;
const paymentsPerHub = 30;
const amountMinor = 100;
const discountMinor = 37;
const budgetMinor = 1_000;
/** floor(1 000 / 37): the discounts the budget covers whole. */
const discountsMax = 27;
const walletFundMinor = hubCount * amountMinor;

interface Burst {
  decisions: Decision[];
  wallets: TestWallet[];
}

/**
 * 20 hubs each send 30 payments at once, interleaved hub by hub, from 30 customers: more qualifying payments
 * than the budget covers, all in flight together, settled in as many batches as batchMax makes.
 */
async function burst(f: SettlementFixture): Promise<Burst> {
  const hubs: TestHub[] = Array.from({ length: hubCount }, (_, i) => f.enrollHub(`h${String(i).padStart(2, "0")}`, "m1"));
  const wallets = Array.from({ length: paymentsPerHub }, (_, i) => f.enrollWallet(`w${String(i).padStart(2, "0")}`, walletFundMinor));
  const sends: Array<Promise<Decision>> = [];
  for (let i = 0; i < paymentsPerHub; i += 1) {
    for (const hub of hubs) sends.push(f.decisionFor(hub, hub.paymentRequest(wallets[i]!, amountMinor).bytes));
  }
  return { decisions: await Promise.all(sends), wallets };
}

function expectBudgetHeld(f: SettlementFixture, { decisions, wallets }: Burst): void {
  const discounted = decisions.filter((d) => (d.receipt?.discountMinor ?? 0) > 0);
  const campaign = campaignOf(f);
  expect(decisions.every((d) => d.status === "approved")).toBe(true);
  expect(discounted).toHaveLength(discountsMax);
  expect(discounted.every((d) => d.receipt?.discountMinor === discountMinor && d.receipt.campaignId === "c1")).toBe(true);
  expect(campaign.spentMinor).toBe(discountsMax * discountMinor);
  expect(campaign.budgetMinor - campaign.spentMinor).toBeLessThan(discountMinor);
  expect(campaign.discountsGiven).toBe(discountsMax);
  // Every discount in the ledger exactly once: one campaign leg per discounted payment, none for the rest.
  const legs = campaignTransfers(f).filter((t) => t.kind === "campaign_discount");
  expect(legs.map((t) => t.amountMinor)).toEqual(Array(discountsMax).fill(discountMinor));
  expect(new Set(legs.map((t) => t.reference))).toEqual(new Set(discounted.map((d) => `${d.hubId}/${d.requestId}`)));
  const paidByCustomers = wallets.reduce((sum, w) => sum + walletFundMinor - f.service.ledger.balanceOf(walletAccountId(w.walletId)), 0);
  expect(paidByCustomers).toBe(hubCount * paymentsPerHub * amountMinor - discountsMax * discountMinor);
  expect(f.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(hubCount * paymentsPerHub * amountMinor);
}

describe.each<[string, FixtureOptions]>([
  ["default batches", {}],
  ["batchMax 7, every batch its own transaction", { service: { batchMax: 7, verifyWorkers: 0 } }],
])("a burst of 600 qualifying payments against a budget for 27 (%s)", (_, options) => {
  let f: SettlementFixture;
  campaignFixtureEachTest((created) => (f = created), options);

  it("full_price: never overspends by a unit; the rest go at full price, each saying the budget is exhausted", async () => {
    addCampaign(f, { rule: { kind: "amount_off", offMinor: discountMinor }, budgetMinor, perCustomerMax: hubCount });

    const result = await burst(f);

    expectBudgetHeld(f, result);
    const fullPrice = result.decisions.filter((d) => d.receipt?.discountMinor === 0);
    expect(fullPrice).toHaveLength(hubCount * paymentsPerHub - discountsMax);
    expect(fullPrice.every((d) => d.receipt?.campaignId === "c1")).toBe(true);
    expect(campaignOf(f).status).toBe("active");
  });

  it("stop: the first payment the budget cannot cover stops the campaign; later ones are plain payments", async () => {
    addCampaign(f, { rule: { kind: "amount_off", offMinor: discountMinor }, budgetMinor, perCustomerMax: hubCount, onExhausted: "stop" });

    const result = await burst(f);

    expectBudgetHeld(f, result);
    expect(result.decisions.filter((d) => d.receipt?.discountMinor === 0)).toHaveLength(1);
    expect(result.decisions.filter((d) => d.receipt?.campaignId === undefined)).toHaveLength(hubCount * paymentsPerHub - discountsMax - 1);
    expect(campaignOf(f)).toMatchObject({ status: "stopped", stopReason: "budget_exhausted", stoppedBy: "services/settlement" });
  });
});
