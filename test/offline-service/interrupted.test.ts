import { describe, expect, it } from "vitest";
import { ErrorCode, type TapwireError } from "../../protocol/errors.ts";
import { walletAccountId } from "../../broker/ledger/ledger.ts";
import type { PayerVerifier } from "../../broker/settlement/payer-verifier.ts";
import type { SettlementFixture } from "../settlement/fixtures.ts";
import { floor, hourMs, offlineFixtureEachTest } from "./preamble.ts";

let f: SettlementFixture;

describe("offline captures: an interrupted batch", () => {
  const buggy: PayerVerifier = {
    kind: "glasses",
    verify() {
      throw new Error("bug in a verifier");
    },
  };
  // No verify workers: both messages must reach one batch transaction, which a worker's timing could split.
  offlineFixtureEachTest((created) => (f = created), { service: { payerVerifiers: [buggy], verifyWorkers: 0 } });

  const badPayment = () =>
    f.hub.paymentRequest(f.wallet, 100, { mode: "glasses", payer: { kind: "glasses", walletId: "w1", glassesId: "g1", assertion: new Uint8Array(8) } });

  it("rolls back the capture with its batch, then settles the retry exactly once", async () => {
    const forward = f.hub.offlineCapture(f.wallet, 500, floor, { capturedAt: f.clock.nowMs() - hourMs });
    const bad = badPayment();

    const outcomes = await Promise.allSettled([f.fromHub(f.hub, forward.bytes), f.fromHub(f.hub, bad.bytes)]);
    const retried = await f.decisionFor(f.hub, forward.bytes);
    const again = await f.decisionFor(f.hub, forward.bytes);

    expect(outcomes.map((o) => (o.status === "rejected" ? (o.reason as TapwireError).code : 0))).toEqual([ErrorCode.LedgerStorage, ErrorCode.LedgerStorage]);
    expect(retried.status).toBe("approved");
    expect(again).toEqual(retried);
    expect(f.service.paymentsOf("m1")).toHaveLength(1);
    expect(f.service.ledger.balanceOf(walletAccountId("w1"))).toBe(9_500);
    expect(f.service.offlineLosses()).toEqual([]);
  });

  it("rolls back a declined capture's loss with its batch, then records the retry's loss exactly once", async () => {
    const forward = f.hub.offlineCapture(f.wallet, floor.saleMaxMinor + 1, floor);

    await Promise.allSettled([f.fromHub(f.hub, forward.bytes), f.fromHub(f.hub, badPayment().bytes)]);
    const lossesAfterRollback = f.service.offlineLosses();
    const retried = await f.decisionFor(f.hub, forward.bytes);
    await f.decisionFor(f.hub, forward.bytes);

    expect(lossesAfterRollback).toEqual([]);
    expect(retried.code).toBe(ErrorCode.OfflineLimitExceeded);
    expect(f.service.offlineLosses().map((l) => l.requestId)).toEqual([forward.body.requestId]);
  });
});
