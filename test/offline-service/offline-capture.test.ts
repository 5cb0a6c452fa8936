import { describe, expect, it } from "vitest";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import type { OfflineCapture } from "../../protocol/messages.ts";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import type { SettlementFixture } from "../settlement/fixtures.ts";
import { floor, hourMs, offlineFixtureEachTest } from "./preamble.ts";

let f: SettlementFixture;
offlineFixtureEachTest((created) => (f = created));

const walletBalance = (walletId = "w1") => f.service.ledger.balanceOf(walletAccountId(walletId));
const merchantBalance = () => f.service.ledger.balanceOf(merchantAccountId("m1"));

/** A sale made offline `agoMs` before now, forwarded now, with the cryptogram taken at the sale. */
function forwardOfSale(amountMinor: number, agoMs: number, overrides: Partial<OfflineCapture> = {}) {
  const capturedAt = f.clock.nowMs() - agoMs;
  return f.hub.offlineCapture(f.wallet, amountMinor, floor, { capturedAt, ...overrides });
}

describe("offline captures: settled", () => {
  it("settles a sale made two hours ago once, as an offline payment, and records no loss", async () => {
    const sale = f.hub.offlineCapture(f.wallet, 1_200, floor);
    f.clock.advance(2 * hourMs);
    const forward = f.hub.offlineCapture(f.wallet, 1_200, floor, { requestId: sale.body.requestId, capturedAt: sale.body.capturedAt, payer: sale.body.payer });

    const decision = await f.decisionFor(f.hub, forward.bytes);

    expect(decision).toMatchObject({ status: "approved", code: 0, requestType: "offline_capture", receipt: { amountMinor: 1_200, merchantId: "m1" } });
    expect(f.service.findPayment("h1", sale.body.requestId)).toMatchObject({ mode: "offline", amountMinor: 1_200, status: "captured" });
    expect([walletBalance(), merchantBalance()]).toEqual([8_800, 1_200]);
    expect(f.service.offlineLosses()).toEqual([]);
  });

  it("answers the same forward sent again with the same stored decision, and posts it once", async () => {
    const forward = forwardOfSale(700, hourMs);
    const first = await f.fromHub(f.hub, forward.bytes);
    f.clock.advance(1_000);

    const again = await Promise.all([f.fromHub(f.hub, forward.bytes), f.fromHub(f.hub, forward.bytes)]);

    for (const answer of again) expect(answer[0]!.payload.equals(first[0]!.payload)).toBe(true);
    expect(f.service.paymentsOf("m1")).toHaveLength(1);
    expect(walletBalance()).toBe(9_300);
  });

  it("settles a backlog forwarded in order, each sale once", async () => {
    const oldest = f.clock.nowMs() - 3 * hourMs;
    const sales = [400, 600, 800].map((amountMinor, index) =>
      f.hub.offlineCapture(f.wallet, amountMinor, floor, {
        capturedAt: oldest + index * hourMs,
        backlog: { position: index + 1, totalMinor: [400, 1_000, 1_800][index]!, oldestCapturedAt: oldest },
      }),
    );

    const decisions = [];
    for (const sale of sales) decisions.push(await f.decisionFor(f.hub, sale.bytes));

    expect(decisions.map((d) => d.status)).toEqual(["approved", "approved", "approved"]);
    expect(merchantBalance()).toBe(1_800);
  });

  it("can be reversed and refunded like any payment", async () => {
    const reversed = forwardOfSale(500, hourMs);
    const refunded = forwardOfSale(900, hourMs);
    await f.decisionFor(f.hub, reversed.bytes);
    await f.decisionFor(f.hub, refunded.bytes);

    const reversal = await f.decisionFor(f.hub, f.hub.reversal(reversed.body.requestId).bytes);
    const refund = await f.decisionFor(f.hub, f.hub.refund(refunded.body.requestId, 300, "EUR").bytes);

    expect([reversal.status, refund.status]).toEqual(["approved", "approved"]);
    expect(f.service.findPayment("h1", reversed.body.requestId)?.status).toBe("reversed");
    expect([walletBalance(), merchantBalance()]).toEqual([9_400, 600]);
  });

  it("refuses a sale the hub reversed before forwarding it, as a loss", async () => {
    const requestId = "h1-sold-offline";
    await f.decisionFor(f.hub, f.hub.reversal(requestId).bytes);
    const forward = forwardOfSale(500, hourMs, { requestId });

    const decision = await f.decisionFor(f.hub, forward.bytes);

    expect(decision.code).toBe(ErrorCode.Cancelled);
    expect(f.service.offlineLosses().map((l) => l.code)).toEqual([ErrorCode.Cancelled]);
    expect(walletBalance()).toBe(10_000);
  });
});

describe("offline captures: the ATC need only be unused", () => {
  it("accepts, once, a late capture whose ATC is below a later online payment's", async () => {
    const sale = f.hub.offlineCapture(f.wallet, 300, floor);
    const atcAtSale = sale.body.payer.atc;
    f.clock.advance(hourMs);
    const online = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 200).bytes);
    const forward = f.hub.offlineCapture(f.wallet, 300, floor, { requestId: sale.body.requestId, capturedAt: sale.body.capturedAt, payer: sale.body.payer });

    const late = await f.decisionFor(f.hub, forward.bytes);
    const sameCryptogramAgain = await f.decisionFor(f.hub, f.hub.offlineCapture(f.wallet, 300, floor, { capturedAt: sale.body.capturedAt, payer: sale.body.payer }).bytes);

    expect(online.status).toBe("approved");
    expect(f.service.registry.getWallet("w1").lastAtc).toBeGreaterThan(atcAtSale);
    expect(late.status).toBe("approved");
    expect(sameCryptogramAgain.code).toBe(ErrorCode.CounterReplayed);
    expect(walletBalance()).toBe(9_500);
  });

  it("refuses a cloned phone replaying a consumed ATC, online or as an offline capture", async () => {
    const genuine = f.hub.paymentRequest(f.wallet, 200);
    await f.decisionFor(f.hub, genuine.bytes);
    const atc = genuine.body.payer.kind === "hce" ? genuine.body.payer.atc : 0;
    const clonedCredential = () => f.wallet.hceCredential("h1", 200, "EUR", atc);

    const online = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 200, { payer: clonedCredential() }).bytes);
    const offline = await f.decisionFor(f.hub, forwardOfSale(200, 0, { payer: clonedCredential() }).bytes);

    expect([online.code, offline.code]).toEqual([ErrorCode.CounterReplayed, ErrorCode.CounterReplayed]);
    expect(walletBalance()).toBe(9_800);
  });
});

describe("offline captures: outside the merchant's floor limits, each a decline and a loss", () => {
  const cases: Array<[string, number, () => Partial<OfflineCapture>, number]> = [
    ["a sale above saleMaxMinor", floor.saleMaxMinor + 1, () => ({}), ErrorCode.OfflineLimitExceeded],
    ["hub limits above the merchant's", 500, () => ({ limits: { ...floor, countMax: floor.countMax + 1 } }), ErrorCode.OfflineLimitExceeded],
    ["a backlog position above countMax", 500, () => ({ backlog: { position: floor.countMax + 1, totalMinor: 500, oldestCapturedAt: f.clock.nowMs() } }), ErrorCode.OfflineLimitExceeded],
    ["a backlog total above totalMaxMinor", 500, () => ({ backlog: { position: 2, totalMinor: floor.totalMaxMinor + 1, oldestCapturedAt: f.clock.nowMs() } }), ErrorCode.OfflineLimitExceeded],
    [
      "a backlog older than ageMsMax",
      500,
      () => ({ backlog: { position: 2, totalMinor: 1_000, oldestCapturedAt: f.clock.nowMs() - floor.ageMsMax - 1 } }),
      ErrorCode.OfflineLimitExceeded,
    ],
    [
      "a capture older than the contract allows",
      500,
      () => {
        const capturedAt = f.clock.nowMs() - contract.offlineCaptureAgeMsMax - 1;
        return { capturedAt, backlog: { position: 1, totalMinor: 500, oldestCapturedAt: capturedAt } };
      },
      ErrorCode.OfflineLimitExceeded,
    ],
    [
      "a capture made after its forward",
      500,
      () => {
        const capturedAt = f.clock.nowMs() + contract.clockSkewMs + 1;
        return { capturedAt, backlog: { position: 1, totalMinor: 500, oldestCapturedAt: capturedAt } };
      },
      ErrorCode.MessageNotYetValid,
    ],
    ["a backlog that does not hold the sale", 500, () => ({ backlog: { position: 1, totalMinor: 499, oldestCapturedAt: f.clock.nowMs() } }), ErrorCode.SchemaInvalid],
  ];

  it.each(cases)("%s", async (_, amountMinor, overrides, code) => {
    const forward = f.hub.offlineCapture(f.wallet, amountMinor, floor, overrides());

    const decision = await f.decisionFor(f.hub, forward.bytes);
    const retry = await f.fromHub(f.hub, forward.bytes);

    expect(decision).toMatchObject({ status: "declined", code });
    expect(f.open(retry[0]!.payload)).toEqual(decision);
    expect(f.service.offlineLosses()).toEqual([
      expect.objectContaining({ hubId: "h1", requestId: forward.body.requestId, merchantId: "m1", walletId: "w1", amountMinor, currency: "EUR", code }),
    ]);
    expect(f.service.offlineLosses()[0]!.capturedAtMs).toBe(forward.body.capturedAt);
    expect(walletBalance()).toBe(10_000);
    expect(f.service.paymentsOf("m1")).toEqual([]);
  });

  it("declines OfflineNotAllowed when the merchant has no limits (they were turned off)", async () => {
    f.service.registry.setOfflineLimits("m1", undefined);

    const decision = await f.decisionFor(f.hub, forwardOfSale(500, hourMs).bytes);

    expect(decision.code).toBe(ErrorCode.OfflineNotAllowed);
    expect(f.service.offlineLosses({ merchantId: "m1" }).map((l) => l.code)).toEqual([ErrorCode.OfflineNotAllowed]);
  });

  it("counts the hub's earlier captures itself, whatever backlog the hub claims", async () => {
    for (let i = 0; i < floor.countMax; i++) expect((await f.decisionFor(f.hub, forwardOfSale(100, hourMs - i).bytes)).status).toBe("approved");

    const fourth = await f.decisionFor(f.hub, forwardOfSale(100, hourMs - 10).bytes);
    f.clock.advance(floor.ageMsMax);
    const laterWindow = await f.decisionFor(f.hub, forwardOfSale(100, 0).bytes);

    expect(fourth.code).toBe(ErrorCode.OfflineLimitExceeded);
    expect(laterWindow.status).toBe("approved");
    expect(f.service.offlineLosses()).toHaveLength(1);
  });

  it("sums the hub's earlier captures itself against totalMaxMinor", async () => {
    await f.decisionFor(f.hub, forwardOfSale(2_000, 2 * hourMs).bytes);
    await f.decisionFor(f.hub, forwardOfSale(2_000, hourMs).bytes);

    const over = await f.decisionFor(f.hub, forwardOfSale(1_001, hourMs - 1).bytes);
    const within = await f.decisionFor(f.hub, forwardOfSale(1_000, hourMs - 2).bytes);

    expect([over.code, within.status]).toEqual([ErrorCode.OfflineLimitExceeded, "approved"]);
    expect(merchantBalance()).toBe(5_000);
  });
});

describe("offline captures: declined for the wallet's reasons, each a loss", () => {
  it("records insufficient funds, an unknown wallet and a wallet in another currency", async () => {
    const poor = f.enrollWallet("w-poor", 50);
    const dollars = f.enrollWallet("w-usd", 5_000, "USD");
    const ghostCredential = { ...f.wallet.hceCredential("h1", 100, "EUR"), walletId: "w-ghost" };

    const funds = await f.decisionFor(f.hub, f.hub.offlineCapture(poor, 60, floor).bytes);
    const ghost = await f.decisionFor(f.hub, f.hub.offlineCapture(f.wallet, 100, floor, { payer: ghostCredential }).bytes);
    const currency = await f.decisionFor(f.hub, f.hub.offlineCapture(dollars, 100, floor).bytes);

    expect([funds.code, ghost.code, currency.code]).toEqual([ErrorCode.InsufficientFunds, ErrorCode.UnknownWallet, ErrorCode.CurrencyMismatch]);
    expect(f.service.offlineLosses().map((l) => [l.walletId, l.code])).toEqual([
      ["w-poor", ErrorCode.InsufficientFunds],
      ["w-ghost", ErrorCode.UnknownWallet],
      ["w-usd", ErrorCode.CurrencyMismatch],
    ]);
    expect(walletBalance("w-poor")).toBe(50);
  });
});

describe("offline captures: forged, malformed and duplicated forwards", () => {
  it("refuses a bad hub signature before anything is stored; the genuine forward still settles", async () => {
    const forward = forwardOfSale(500, hourMs);
    const forged = Buffer.from(forward.bytes);
    forged[forged.length - 1]! ^= 0xff;

    const refused = await f.decisionFor(f.hub, forged);
    const genuine = await f.decisionFor(f.hub, forward.bytes);

    expect(refused.code).toBe(ErrorCode.BadSignature);
    expect(genuine.status).toBe("approved");
    expect(f.service.offlineLosses()).toEqual([]);
  });

  it("declines a cryptogram that does not verify, as a loss, and leaves its ATC unused", async () => {
    const payer = f.wallet.hceCredential("h1", 500, "EUR");
    const cryptogram = Uint8Array.from(payer.cryptogram);
    cryptogram[0]! ^= 0xff;

    const forged = await f.decisionFor(f.hub, forwardOfSale(500, hourMs, { payer: { ...payer, cryptogram } }).bytes);
    const genuine = await f.decisionFor(f.hub, forwardOfSale(500, hourMs, { payer }).bytes);

    expect(forged.code).toBe(ErrorCode.PayerCredentialInvalid);
    expect(f.service.offlineLosses().map((l) => l.code)).toEqual([ErrorCode.PayerCredentialInvalid]);
    expect(genuine.status).toBe("approved");
  });

  it("refuses malformed bodies at the schema, storing nothing", async () => {
    const valid = forwardOfSale(500, hourMs).body;
    const { backlog: _dropped, ...withoutBacklog } = valid;
    const bodies = [withoutBacklog, { ...valid, limits: { ...floor, countMax: contract.offlineCountMax + 1 } }, { ...valid, payer: { ...valid.payer, atc: 0 } }];

    const decisions = await Promise.all(bodies.map((body) => f.decisionFor(f.hub, f.hub.seal(body))));

    expect(decisions.map((d) => d.code)).toEqual([ErrorCode.SchemaInvalid, ErrorCode.SchemaInvalid, ErrorCode.SchemaInvalid]);
    expect(f.service.offlineLosses()).toEqual([]);
    expect((await f.decisionFor(f.hub, f.hub.seal(valid))).status).toBe("approved");
  });

  it("refuses another body under a settled requestId (RequestIdReused) and an old seq (SeqReplayed) at the gates", async () => {
    const forward = forwardOfSale(500, hourMs);
    await f.decisionFor(f.hub, forward.bytes);
    const reforged = f.hub.offlineCapture(f.wallet, 500, floor, { requestId: forward.body.requestId, capturedAt: forward.body.capturedAt, payer: forward.body.payer });
    const oldSeq = f.hub.offlineCapture(f.wallet, 400, floor, { seq: forward.body.seq });

    const reused = await f.decisionFor(f.hub, reforged.bytes);
    const replayedSeq = await f.decisionFor(f.hub, oldSeq.bytes);

    expect([reused.code, replayedSeq.code]).toEqual([ErrorCode.RequestIdReused, ErrorCode.SeqReplayed]);
    expect(f.service.offlineLosses()).toEqual([]);
    expect(f.service.paymentsOf("m1")).toHaveLength(1);
  });

  it("declines the same cryptogram under a new requestId (CounterReplayed), recorded for the hub's reconciliation", async () => {
    const forward = forwardOfSale(500, hourMs);
    await f.decisionFor(f.hub, forward.bytes);

    const doubled = await f.decisionFor(f.hub, f.hub.offlineCapture(f.wallet, 500, floor, { capturedAt: forward.body.capturedAt, payer: forward.body.payer }).bytes);

    expect(doubled.code).toBe(ErrorCode.CounterReplayed);
    expect(f.service.offlineLosses().map((l) => l.code)).toEqual([ErrorCode.CounterReplayed]);
    expect(walletBalance()).toBe(9_500);
  });
});
