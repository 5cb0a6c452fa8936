import { describe, expect, it } from "vitest";
import { EvidenceStore } from "../../broker/evidence/evidence-store.ts";
import { exportEvidence, verifyEvidenceBundle } from "../../broker/evidence/verify-evidence.ts";
import { decodeBody } from "../../protocol/cbor.ts";
import { SettlementDashboardSource } from "../../console/settlement-source.ts";
import type { SettlementFixture } from "../settlement/fixtures.ts";
import { addCampaign, campaignFixtureEachTest, pay } from "./preamble.ts";
import { asSqlite } from "../../broker/ledger/sqlite-db.ts";

let f: SettlementFixture;
campaignFixtureEachTest((created) => (f = created));

function operatorRows(): Array<{ principal: string; requestId: string; body: Record<string, unknown> }> {
  return new EvidenceStore(f.service.database)
    .page(0, 1_000)
    .filter((row) => row.kind === "operator")
    .map((row) => ({ principal: row.principal, requestId: row.requestId, body: decodeBody(row.bytes) as Record<string, unknown> }));
}

describe("campaign changes in the evidence chain", () => {
  it("records each definition and stop with who and when: an operator's, and the service's own on exhaustion", async () => {
    const nowMs = f.clock.nowMs();
    addCampaign(f, { campaignId: "c1" });
    addCampaign(f, { campaignId: "tiny", budgetMinor: 200, rule: { kind: "amount_off", offMinor: 300 }, onExhausted: "stop" });
    f.service.campaigns.stop("c1", "bob");

    await pay(f, 1_000);

    expect(operatorRows()).toEqual([
      { principal: "operators/alice", requestId: "c1", body: expect.objectContaining({ type: "campaign_add", by: "operators/alice", atMs: nowMs }) },
      { principal: "operators/alice", requestId: "tiny", body: expect.objectContaining({ type: "campaign_add", campaign: expect.objectContaining({ budgetMinor: 200 }) }) },
      { principal: "operators/bob", requestId: "c1", body: { type: "campaign_stop", campaignId: "c1", by: "operators/bob", reason: "operator", atMs: nowMs } },
      { principal: "services/settlement", requestId: "tiny", body: expect.objectContaining({ type: "campaign_stop", reason: "budget_exhausted" }) },
    ]);
  });

  it("an exported bundle accounts for both legs of every discount and every give-back", async () => {
    addCampaign(f, { perCustomerMax: 3 });
    const paid = await pay(f, 1_000);
    await pay(f, 700);
    await f.decisionFor(f.hub, f.hub.refund(paid.requestId, 400, "EUR").bytes);
    await f.decisionFor(f.hub, f.hub.reversal(paid.requestId).bytes);

    const report = verifyEvidenceBundle(exportEvidence(f.service.database), f.service.publicKey);

    expect(report).toMatchObject({ ok: true, transfers: 8, receipts: 4, operatorActions: 1 });
  });
});

describe("the dashboard", () => {
  it("shows each campaign's budget left", async () => {
    addCampaign(f, { budgetMinor: 1_000 });
    await pay(f, 1_000);
    const source = new SettlementDashboardSource({ db: asSqlite(f.service.database), label: "test", clock: f.clock });

    const campaigns = source.snapshot().campaigns;

    expect(campaigns).toEqual({
      total: 1,
      shown: [
        {
          campaignId: "c1",
          merchantId: "m1",
          status: "active",
          budgetLeftMinor: 850,
          budgetLeft: "8.50 EUR",
          budget: "10.00 EUR",
          discountsGiven: 1,
          endsAtMs: f.clock.nowMs() + 86_400_000,
        },
      ],
    });
  });
});
