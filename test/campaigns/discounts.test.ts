import { describe, expect, it } from "vitest";
import { campaignAccountId, merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import type { SettlementFixture } from "../settlement/fixtures.ts";
import { addCampaign, campaignFixtureEachTest, campaignOf, campaignTransfers, dayMs, hourMs, pay } from "./preamble.ts";

let f: SettlementFixture;
campaignFixtureEachTest((created) => (f = created));

const balance = (accountId: string) => f.service.ledger.balanceOf(accountId);

describe("an amount-off campaign in the ledger", () => {
  it("splits the payment: the customer pays amount − discount, the campaign the discount, both legs in one posting", async () => {
    addCampaign(f, { budgetMinor: 1_000 });

    const decision = await pay(f, 1_000);

    expect(decision).toMatchObject({ status: "approved", code: 0, receipt: { amountMinor: 1_000, discountMinor: 150, campaignId: "c1" } });
    expect([balance(walletAccountId("w1")), balance(merchantAccountId("m1")), balance(campaignAccountId("c1"))]).toEqual([9_150, 1_000, 850]);
    const [funding, discount] = campaignTransfers(f);
    expect(funding).toMatchObject({ kind: "funding", debitAccountId: "funding:EUR", amountMinor: 1_000 });
    expect(discount).toMatchObject({ kind: "campaign_discount", debitAccountId: "campaign:c1", creditAccountId: "merchant:m1", amountMinor: 150 });
    const [customerLeg] = f.service.ledger.transfers({ accountId: walletAccountId("w1"), limit: 1 });
    expect(customerLeg).toMatchObject({ kind: "payment", amountMinor: 850, reference: discount!.reference, postedAtMs: discount!.postedAtMs });
    expect(decision.receipt?.postedAtMs).toBe(discount!.postedAtMs);
    expect(campaignOf(f)).toMatchObject({ spentMinor: 150, budgetLeftMinor: 850, discountsGiven: 1, status: "active" });
    expect(f.service.findPayment("h1", decision.requestId)?.amountMinor).toBe(1_000);
  });

  it("answers a payment-status query with the capture's own receipt, discount included", async () => {
    addCampaign(f);
    const paid = await pay(f, 1_000);

    const status = await f.decisionFor(f.hub, f.hub.paymentStatus(paid.requestId).bytes);

    expect(status.receipt).toEqual(paid.receipt);
  });
});

describe("a percent campaign with a cap", () => {
  it("floors the percentage to the minor unit and stops at the cap", async () => {
    f.service.registry.fundWallet("w1", 10_000);
    addCampaign(f, { rule: { kind: "percent", percentBps: 500, capMinor: 120 }, perCustomerMax: 3 });

    const discounts = [];
    for (const amountMinor of [999, 1_000, 5_000]) discounts.push((await pay(f, amountMinor)).receipt?.discountMinor);

    expect(discounts).toEqual([49, 50, 120]);
    expect(balance(walletAccountId("w1"))).toBe(20_000 - (999 - 49) - (1_000 - 50) - (5_000 - 120));
    expect(campaignOf(f).spentMinor).toBe(219);
  });
});

describe("which payments qualify", () => {
  it("one discount per customer by default; another customer still gets one", async () => {
    addCampaign(f);
    const bob = f.enrollWallet("bob", 10_000);

    const receipts = [await pay(f, 1_000), await pay(f, 1_000), await pay(f, 1_000, f.hub, bob)].map((d) => d.receipt?.discountMinor);

    expect(receipts).toEqual([150, undefined, 150]);
    expect(campaignOf(f).spentMinor).toBe(300);
  });

  it("a customer's daily limit resets on the next UTC day", async () => {
    addCampaign(f, { perCustomerMax: 5, perCustomerPerDayMax: 1, endsAtMs: f.clock.nowMs() + 3 * dayMs });

    const today = [await pay(f, 1_000), await pay(f, 1_000)];
    f.clock.advance(dayMs);
    const tomorrow = await pay(f, 1_000);

    expect([...today, tomorrow].map((d) => d.receipt?.discountMinor)).toEqual([150, undefined, 150]);
  });

  it("the campaign's daily limit counts all customers together", async () => {
    addCampaign(f, { perDayMax: 2, endsAtMs: f.clock.nowMs() + 3 * dayMs });
    const wallets = ["a", "b", "c"].map((id) => f.enrollWallet(id, 10_000));

    const today = [];
    for (const wallet of wallets) today.push(await pay(f, 1_000, f.hub, wallet));
    f.clock.advance(dayMs);
    const tomorrow = await pay(f, 1_000, f.hub, wallets[2]);

    expect([...today, tomorrow].map((d) => d.receipt?.discountMinor)).toEqual([150, 150, undefined, 150]);
  });

  it("only inside its window: from its start, up to but not at its end", async () => {
    const startsAtMs = f.clock.nowMs() + hourMs;
    addCampaign(f, { startsAtMs, endsAtMs: startsAtMs + hourMs, perCustomerMax: 10 });

    const before = await pay(f, 1_000);
    f.clock.advance(hourMs);
    const atStart = await pay(f, 1_000);
    f.clock.advance(hourMs - 1);
    const lastMs = await pay(f, 1_000);
    f.clock.advance(1);
    const atEnd = await pay(f, 1_000);

    expect([before, atStart, lastMs, atEnd].map((d) => d.receipt?.discountMinor)).toEqual([undefined, 150, 150, undefined]);
  });

  it("not in another currency, for another merchant, or below the minimum amount", async () => {
    f.service.registry.enrollMerchant({ merchantId: "m-usd", currency: "USD" });
    f.service.registry.enrollMerchant({ merchantId: "m2", currency: "EUR" });
    addCampaign(f, { campaignId: "dollars", merchantId: undefined, currency: "USD" });
    addCampaign(f, { campaignId: "other-shop", merchantId: "m2" });
    addCampaign(f, { campaignId: "big-baskets", minAmountMinor: 2_000 });

    const decision = await pay(f, 1_999);

    expect(decision.status).toBe("approved");
    expect(decision.receipt).not.toHaveProperty("discountMinor");
    expect(f.service.campaigns.list().map((c) => c.spentMinor)).toEqual([0, 0, 0]);
  });

  it("an operator's campaign without a merchant covers every merchant in its currency", async () => {
    f.service.registry.enrollMerchant({ merchantId: "m2", currency: "EUR" });
    const otherShop = f.enrollHub("h-m2", "m2");
    addCampaign(f, { merchantId: undefined, perCustomerMax: 2 });

    const receipts = [await pay(f, 1_000), await pay(f, 1_000, otherShop)].map((d) => d.receipt);

    expect(receipts.map((r) => [r?.merchantId, r?.discountMinor])).toEqual([
      ["m1", 150],
      ["m2", 150],
    ]);
  });

  it("picks the largest discount, ties to the smallest campaign id, and falls to the next when one is used up", async () => {
    addCampaign(f, { campaignId: "b-percent", rule: { kind: "percent", percentBps: 1_000, capMinor: 500 } });
    addCampaign(f, { campaignId: "c-flat", rule: { kind: "amount_off", offMinor: 100 } });
    addCampaign(f, { campaignId: "a-flat", rule: { kind: "amount_off", offMinor: 100 } });

    const chosen = [];
    for (let i = 0; i < 4; i += 1) chosen.push((await pay(f, 2_000)).receipt);

    expect(chosen.map((r) => r?.campaignId)).toEqual(["b-percent", "a-flat", "c-flat", undefined]);
    expect(chosen.map((r) => r?.discountMinor)).toEqual([200, 100, 100, undefined]);
  });

  it("a tag payment gets the discount; a forwarded offline sale does not", async () => {
    addCampaign(f, { perCustomerMax: 5 });
    const limits = { saleMaxMinor: 2_000, totalMaxMinor: 5_000, countMax: 5, ageMsMax: hourMs };
    f.service.registry.setOfflineLimits("m1", limits);
    const offer = f.hub.tagOffer(1_000, "EUR");

    const tag = f.open((await f.send("wallet", "w1", f.wallet.tagPayment(offer.bytes).bytes))[0]!.payload);
    const offline = await f.decisionFor(f.hub, f.hub.offlineCapture(f.wallet, 1_000, limits).bytes);

    expect(tag.receipt).toMatchObject({ discountMinor: 150, campaignId: "c1" });
    expect(offline.status).toBe("approved");
    expect(offline.receipt).not.toHaveProperty("discountMinor");
  });

  it("a payment the customer cannot afford even discounted leaves the budget and the limits untouched", async () => {
    const poor = f.enrollWallet("poor", 800);
    addCampaign(f);

    const declined = await pay(f, 1_000, f.hub, poor);
    const approved = await pay(f, 950, f.hub, poor);

    expect(declined).toMatchObject({ status: "declined", code: ErrorCode.InsufficientFunds });
    expect(approved.receipt).toMatchObject({ discountMinor: 150 });
    expect(campaignOf(f)).toMatchObject({ spentMinor: 150, discountsGiven: 1 });
  });
});

describe("defining campaigns", () => {
  it("funds the budget from funding:<CUR> and records who defined it, when, in the evidence chain", () => {
    const added = addCampaign(f, { budgetMinor: 5_000 });

    expect(added).toMatchObject({ status: "active", definedBy: "operators/alice", definedAtMs: f.clock.nowMs(), budgetLeftMinor: 5_000 });
    expect(balance(campaignAccountId("c1"))).toBe(5_000);
  });

  it("refuses a second definition of an id, a merchant in another currency, an unknown merchant, a window already over, bad values", () => {
    addCampaign(f);
    f.service.registry.enrollMerchant({ merchantId: "m-usd", currency: "USD" });
    const codeOf = (change: Record<string, unknown>) => {
      try {
        addCampaign(f, change);
        return 0;
      } catch (error) {
        return (error as { code: number }).code;
      }
    };

    expect([
      codeOf({}),
      codeOf({ campaignId: "c2", merchantId: "m-usd" }),
      codeOf({ campaignId: "c3", merchantId: "nobody" }),
      codeOf({ campaignId: "c4", startsAtMs: 0, endsAtMs: f.clock.nowMs() }),
      codeOf({ campaignId: "c5", budgetMinor: 99.5, rule: { kind: "percent", percentBps: 0, capMinor: 10 } }),
    ]).toEqual([ErrorCode.CampaignAlreadyDefined, ErrorCode.CurrencyMismatch, ErrorCode.UnknownMerchant, ErrorCode.ConfigInvalid, ErrorCode.ConfigInvalid]);
    expect(f.service.campaigns.list()).toHaveLength(1);
    expect(balance(campaignAccountId("c1"))).toBe(10_000);
  });

  it("an operator's stop takes effect on the next payment and keeps the budget left in the account", async () => {
    addCampaign(f, { perCustomerMax: 5 });
    await pay(f, 1_000);

    const stopped = f.service.campaigns.stop("c1", "bob");
    const again = f.service.campaigns.stop("c1", "carol");
    const after = await pay(f, 1_000);

    expect(stopped).toMatchObject({ status: "stopped", stoppedBy: "operators/bob", stopReason: "operator", budgetLeftMinor: 9_850 });
    expect(again.stoppedBy).toBe("operators/bob");
    expect(after.receipt).not.toHaveProperty("campaignId");
    expect(balance(campaignAccountId("c1"))).toBe(9_850);
  });
});
