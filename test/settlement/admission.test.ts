import { afterEach, describe, expect, it } from "vitest";
import { LoadShedder } from "../../broker/settlement/load-shedder.ts";
import { storageRetryAfterMs } from "../../broker/settlement/batcher.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import type { Decision } from "../../protocol/messages.ts";
import { SettlementFixture, type TestHub } from "./fixtures.ts";
import { asSqlite } from "../../broker/ledger/sqlite-db.ts";

let f: SettlementFixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

/** Every answer one sender got for `payloads` sent at once, decoded; [] for a request shed unanswered. */
async function flood(fixture: SettlementFixture, hub: TestHub, payloads: Uint8Array[]): Promise<Decision[][]> {
  const answers = await Promise.all(payloads.map((payload) => fixture.fromHub(hub, payload)));
  return answers.map((outbound) => outbound.map((o) => fixture.open(o.payload)));
}

describe("admission at the edge of the settlement service", () => {
  it("one sender past its queue bound gets signed Overloaded answers with a retry-after; what was admitted settles; the ledger balances", async () => {
    f = await SettlementFixture.create({ fundMinor: 1_000_000 });
    const requests = Array.from({ length: 100 }, () => f!.hub.paymentRequest(f!.wallet, 10).bytes);

    const decisions = (await flood(f, f.hub, requests)).map((answers) => answers[0]!);

    const approved = decisions.filter((d) => d.status === "approved");
    const shed = decisions.filter((d) => d.code === ErrorCode.Overloaded);
    expect(approved).toHaveLength(64);
    expect(shed).toHaveLength(36);
    for (const decision of shed) expect(decision.retryAfterMs).toBeGreaterThanOrEqual(250);
    expect(f.service.shedCounts).toEqual({ answered: 36, unanswered: 0 });
    expect(f.service.paymentsOf("m1")).toHaveLength(64);
    f.service.ledger.checkInvariants();
  });

  it("a shed request retried later with the same bytes is settled once", async () => {
    f = await SettlementFixture.create({ fundMinor: 1_000_000 });
    const requests = Array.from({ length: 65 }, () => f!.hub.paymentRequest(f!.wallet, 10).bytes);
    const first = (await flood(f, f.hub, requests)).map((answers) => answers[0]!);
    const shedIndex = first.findIndex((d) => d.code === ErrorCode.Overloaded);
    expect(shedIndex).toBeGreaterThanOrEqual(0);

    const retried = await f.decisionFor(f.hub, requests[shedIndex]!);
    const again = await f.decisionFor(f.hub, requests[shedIndex]!);
    expect(retried.status).toBe("approved");
    expect(again).toEqual(retried);
    expect(f.service.paymentsOf("m1")).toHaveLength(65);
  });

  it("requests whose exp passes while they wait are answered expired, never executed late", async () => {
    f = await SettlementFixture.create({ fundMinor: 1_000_000 });
    const late = f.hub.paymentRequest(f.wallet, 10, { exp: f.clock.nowMs() + 1_000 });
    const answer = f.fromHub(f.hub, late.bytes);
    f.clock.advance(1_000);

    expect(f.open((await answer)[0]!.payload)).toMatchObject({ status: "declined", code: ErrorCode.MessageExpired });
    expect(f.service.paymentsOf("m1")).toEqual([]);
  });
});

describe("storage faults are answered, not swallowed", () => {
  it("disk full: every request of the batch gets a signed LedgerStorage decline with a retry-after; when space returns the retries settle once", async () => {
    f = await SettlementFixture.create({ fundMinor: 1_000_000 });
    const db = asSqlite(f.service.database);
    const pages = db.pragma("page_count", { simple: true }) as number;
    // SQLite's own disk-full: the database may not grow past the pages it has (SQLITE_FULL on the next growth).
    db.pragma(`max_page_count = ${pages}`);
    const requests = Array.from({ length: 40 }, () => f!.hub.paymentRequest(f!.wallet, 10, { context: { note: "x".repeat(200) } }).bytes);

    const during = (await flood(f, f.hub, requests)).map((answers) => answers[0]!);
    const refused = during.filter((d) => d.code === ErrorCode.LedgerStorage);
    expect(refused.length).toBeGreaterThan(0);
    for (const decision of refused) expect(decision).toMatchObject({ status: "declined", retryAfterMs: storageRetryAfterMs });
    expect(f.service.storageHealth).toMatchObject({ state: "failing", code: "SQLITE_FULL" });
    const settledBefore = f.service.paymentsOf("m1").length;

    db.pragma("max_page_count = 1073741823");
    for (const [index, decision] of during.entries()) {
      if (decision.code !== ErrorCode.LedgerStorage) continue;
      expect((await f.decisionFor(f.hub, requests[index]!)).status).toMatch(/approved|declined/);
    }
    expect(f.service.storageHealth).toEqual({ state: "ok" });
    const payments = f.service.paymentsOf("m1");
    expect(new Set(payments.map((p) => p.requestId)).size).toBe(payments.length);
    expect(payments.length).toBeGreaterThanOrEqual(settledBefore);
    f.service.ledger.checkInvariants();
  });
});

describe("LoadShedder", () => {
  it("tells a retry-after from the queue ahead at the measured rate, bounded", () => {
    const shedder = new LoadShedder({ shedAnswersPerSecondMax: 10, retryAfterMsMin: 250, retryAfterMsMax: 10_000 });
    expect(shedder.drainMs(1_000)).toBe(0);
    for (let batch = 0; batch < 50; batch += 1) shedder.recordBusyBatch(100, 100);
    expect(shedder.retryAfterMs(1_000)).toBeGreaterThan(900);
    expect(shedder.retryAfterMs(1_000)).toBeLessThan(1_100);
    expect(shedder.retryAfterMs(0)).toBe(250);
    expect(shedder.retryAfterMs(1_000_000)).toBe(10_000);
  });

  it("answers at most shedAnswersPerSecondMax a second; the rest go unanswered", () => {
    const shedder = new LoadShedder({ shedAnswersPerSecondMax: 10, retryAfterMsMin: 250, retryAfterMsMax: 10_000 });
    const taken = Array.from({ length: 15 }, () => shedder.takeAnswer(1_000)).filter(Boolean).length;
    expect(taken).toBe(10);
    expect(shedder.takeAnswer(1_050)).toBe(false);
    expect(shedder.takeAnswer(1_100)).toBe(true);
  });
});
