import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { walletAccountId } from "../../broker/ledger/ledger.ts";
import type { SettlementFixture } from "../settlement/fixtures.ts";
import { floor, hourMs, offlineFixtureEachTest } from "./preamble.ts";
import { asSqlite } from "../../broker/ledger/sqlite-db.ts";

let f: SettlementFixture;

/** SQLite's own disk-full: the database may not grow past the pages it has, so the next batch rolls back. */
function diskFull(fixture: SettlementFixture): () => void {
  const db = asSqlite(fixture.service.database);
  db.pragma(`max_page_count = ${db.pragma("page_count", { simple: true }) as number}`);
  return () => db.pragma("max_page_count = 1073741823");
}

/** Limits wide enough for a batch of captures large enough to need new database pages. */
const wide = { ...floor, countMax: 100, totalMaxMinor: 100_000 };

function captures(count: number, amountMinor: number, capturedAt: number) {
  f.service.registry.setOfflineLimits("m1", wide);
  return Array.from({ length: count }, () => f.hub.offlineCapture(f.wallet, amountMinor, wide, { capturedAt }));
}

describe("offline captures: an interrupted batch", () => {
  offlineFixtureEachTest((created) => (f = created));

  it("rolls the captures back with their batch (each told LedgerStorage, retry later); the retries settle exactly once", async () => {
    const forwards = captures(20, 100, f.clock.nowMs() - hourMs);
    const spaceReturns = diskFull(f);

    const during = await Promise.all(forwards.map((forward) => f.decisionFor(f.hub, forward.bytes)));
    expect(during.every((decision) => decision.code === ErrorCode.LedgerStorage)).toBe(true);
    expect(f.service.paymentsOf("m1")).toEqual([]);
    spaceReturns();
    const retried = [];
    for (const forward of forwards) retried.push(await f.decisionFor(f.hub, forward.bytes));
    const again = await f.decisionFor(f.hub, forwards[0]!.bytes);

    expect(retried.map((decision) => decision.status)).toEqual(forwards.map(() => "approved"));
    expect(again).toEqual(retried[0]);
    expect(f.service.paymentsOf("m1")).toHaveLength(20);
    expect(f.service.ledger.balanceOf(walletAccountId("w1"))).toBe(10_000 - 20 * 100);
    expect(f.service.offlineLosses()).toEqual([]);
  });

  it("rolls a declined capture's loss back with its batch, then records the retry's loss exactly once", async () => {
    const forwards = captures(20, floor.saleMaxMinor + 1, f.clock.nowMs());
    const spaceReturns = diskFull(f);

    await Promise.all(forwards.map((forward) => f.decisionFor(f.hub, forward.bytes)));
    const lossesAfterRollback = f.service.offlineLosses();
    spaceReturns();
    const retried = await f.decisionFor(f.hub, forwards[0]!.bytes);
    await f.decisionFor(f.hub, forwards[0]!.bytes);

    expect(lossesAfterRollback).toEqual([]);
    expect(retried.code).toBe(ErrorCode.OfflineLimitExceeded);
    expect(f.service.offlineLosses().map((l) => l.requestId)).toEqual([forwards[0]!.body.requestId]);
  });
});
