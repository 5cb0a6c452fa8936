import { describe, expect, it } from "vitest";
import { walletAccountId } from "../../broker/ledger/ledger.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import type { SettlementFixture } from "../settlement/fixtures.ts";
import { addCampaign, campaignFixtureEachTest, campaignOf, campaignTransfers } from "./preamble.ts";
import { asSqlite } from "../../broker/ledger/sqlite-db.ts";

let f: SettlementFixture;
campaignFixtureEachTest((created) => (f = created));

const discountLegs = () => campaignTransfers(f).filter((t) => t.kind === "campaign_discount");

describe("the same payment more than once", () => {
  it("replayed later: the same bytes get the stored decision, and no second discount", async () => {
    addCampaign(f, { perCustomerMax: 5 });
    const request = f.hub.paymentRequest(f.wallet, 1_000);
    const first = await f.fromHub(f.hub, request.bytes);
    f.clock.advance(10_000);

    const replayed = await f.fromHub(f.hub, request.bytes);

    expect(replayed[0]!.payload.equals(first[0]!.payload)).toBe(true);
    expect(discountLegs()).toHaveLength(1);
    expect(campaignOf(f).spentMinor).toBe(150);
    expect(f.service.ledger.balanceOf(walletAccountId("w1"))).toBe(9_150);
  });

  it("duplicated in flight: copies in one burst are answered alike, one discount", async () => {
    addCampaign(f, { perCustomerMax: 5 });
    const request = f.hub.paymentRequest(f.wallet, 1_000);

    const answers = await Promise.all(Array.from({ length: 5 }, () => f.fromHub(f.hub, request.bytes)));

    for (const answer of answers) expect(answer[0]!.payload.equals(answers[0]![0]!.payload)).toBe(true);
    expect(f.open(answers[0]![0]!.payload).receipt?.discountMinor).toBe(150);
    expect(discountLegs()).toHaveLength(1);
    expect(campaignOf(f).spentMinor).toBe(150);
  });

  it("reversed twice: the discount comes back once", async () => {
    addCampaign(f);
    const paid = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 1_000).bytes);

    await f.decisionFor(f.hub, f.hub.reversal(paid.requestId).bytes);
    const again = await f.decisionFor(f.hub, f.hub.reversal(paid.requestId).bytes);

    expect(again.code).toBe(ErrorCode.AlreadyReversed);
    expect(campaignTransfers(f).filter((t) => t.kind === "campaign_return")).toHaveLength(1);
    expect(campaignOf(f).spentMinor).toBe(0);
  });
});

describe("a batch rolled back by a storage fault", () => {
  it("takes its discount back with it; the retry of the same bytes gets exactly one", async () => {
    addCampaign(f, { perCustomerMax: 5 });
    const db = asSqlite(f.service.database);
    // SQLite's own disk-full: the database may not grow past the pages it has, and this request's evidence
    // (a few kilobytes of context) needs more.
    db.pragma(`max_page_count = ${db.pragma("page_count", { simple: true }) as number}`);
    const context = Object.fromEntries(Array.from({ length: 24 }, (_, i) => [`note${i}`, "x".repeat(250)]));
    const request = f.hub.paymentRequest(f.wallet, 1_000, { context });

    const during = await f.decisionFor(f.hub, request.bytes);
    const spentDuring = campaignOf(f).spentMinor;
    db.pragma("max_page_count = 1073741823");
    const retried = await f.decisionFor(f.hub, request.bytes);
    const again = await f.decisionFor(f.hub, request.bytes);

    expect(during).toMatchObject({ status: "declined", code: ErrorCode.LedgerStorage });
    expect(spentDuring).toBe(0);
    expect(retried.receipt).toMatchObject({ discountMinor: 150, campaignId: "c1" });
    expect(again).toEqual(retried);
    expect(discountLegs()).toHaveLength(1);
    expect(campaignOf(f)).toMatchObject({ spentMinor: 150, discountsGiven: 1 });
    expect(f.service.ledger.balanceOf(walletAccountId("w1"))).toBe(9_150);
  });
});
