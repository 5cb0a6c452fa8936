import { afterEach, beforeEach, expect } from "vitest";
import type { CampaignRecord } from "../../broker/campaigns/campaign-store.ts";
import { campaignAccountId, type Transfer } from "../../broker/ledger/ledger.ts";
import type { Decision } from "../../protocol/messages.ts";
import { SettlementFixture, type FixtureOptions, type TestHub, type TestWallet } from "../settlement/fixtures.ts";

export const hourMs = 3_600_000;
export const dayMs = 24 * hourMs;

/** An amount-off campaign for merchant m1 in EUR, open for a day from now; `change` replaces any field. */
export function campaignInput(f: SettlementFixture, change: Record<string, unknown> = {}): Record<string, unknown> {
  const nowMs = f.clock.nowMs();
  return {
    campaignId: "c1",
    merchantId: "m1",
    currency: "EUR",
    rule: { kind: "amount_off", offMinor: 150 },
    budgetMinor: 10_000,
    startsAtMs: nowMs,
    endsAtMs: nowMs + dayMs,
    ...change,
  };
}

export function addCampaign(f: SettlementFixture, change: Record<string, unknown> = {}): CampaignRecord {
  return f.service.campaigns.add(campaignInput(f, change), "alice");
}

export function campaignOf(f: SettlementFixture, campaignId = "c1"): CampaignRecord {
  return f.service.campaigns.get(campaignId);
}

/** Every transfer that touched the campaign's account, oldest first. */
export function campaignTransfers(f: SettlementFixture, campaignId = "c1"): Transfer[] {
  return f.service.ledger.transfers({ accountId: campaignAccountId(campaignId), limit: 10_000 }).reverse();
}

/** Pays `amountMinor` from the wallet at the hub (reader mode) and returns the signed decision. */
export function pay(f: SettlementFixture, amountMinor: number, hub: TestHub = f.hub, wallet: TestWallet = f.wallet): Promise<Decision> {
  return f.decisionFor(hub, hub.paymentRequest(wallet, amountMinor).bytes);
}

/**
 * The books after any test: every currency sums to zero, each campaign's account holds exactly its budget
 * left (so the guarded counter and the ledger agree), and the evidence chain accounts for every movement.
 */
export function expectBooksBalanced(f: SettlementFixture): void {
  f.service.ledger.checkInvariants();
  for (const campaign of f.service.campaigns.list()) {
    expect(campaign.spentMinor).toBeLessThanOrEqual(campaign.budgetMinor);
    expect(f.service.ledger.balanceOf(campaignAccountId(campaign.campaignId))).toBe(campaign.budgetLeftMinor);
  }
  expect(f.service.verifyEvidence().problems).toEqual([]);
}

/** A fresh fixture for every test of the calling file, whose books are checked before it is closed. */
export function campaignFixtureEachTest(use: (f: SettlementFixture) => void, options: FixtureOptions = {}): void {
  let current: SettlementFixture | undefined;
  beforeEach(async () => {
    current = await SettlementFixture.create(options);
    use(current);
  });
  afterEach(async () => {
    try {
      if (current) expectBooksBalanced(current);
    } finally {
      await current?.close();
      current = undefined;
    }
  });
}
