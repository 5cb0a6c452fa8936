import { describe, expect, it } from "vitest";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import type { OfflineLimits } from "../../protocol/contract.ts";
import { credential, flush, HubRig, outboxConfig, sealPayment } from "./fakes.ts";

const limits: OfflineLimits = { saleMaxMinor: 5_000, totalMaxMinor: 8_000, countMax: 3, ageMsMax: 3_600_000 };

function offlineSale(rig: HubRig, amountMinor: number) {
  const saleId = rig.random.uuid();
  return rig.outbox.captureOffline({ saleId, mode: "offline", amountMinor, currency: "EUR" }, credential, limits);
}

/** The waiters of a stopped outbox reject with Cancelled: a test that restarts mid-sale expects that. */
function ignoreStop(promise: Promise<unknown>): void {
  promise.catch((error: unknown) => expect(isTapwireError(error, ErrorCode.Cancelled)).toBe(true));
}

describe("outbox after a restart", () => {
  it("resends an interrupted payment with the same bytes, and the service's stored decision settles the sale", async () => {
    const rig = new HubRig();
    rig.outbox.start();
    const payment = sealPayment(rig);
    ignoreStop(rig.outbox.send(payment));
    rig.restart();
    rig.outbox.start();

    const sends = rig.settlement.sendsOf(payment.requestId);
    expect(sends).toHaveLength(2);
    expect(sends[1]!.bytes.equals(sends[0]!.bytes)).toBe(true);
    const settled = rig.outbox.saleOutcome(payment.saleId);
    rig.settlement.answer(sends[1]!, "approved");
    expect(await settled).toMatchObject({ saleId: payment.saleId, outcome: "approved" });
  });

  it("resends an interrupted reversal rather than the payment it superseded", async () => {
    const rig = new HubRig({ online: false });
    rig.outbox.start();
    const payment = sealPayment(rig);
    ignoreStop(rig.outbox.send(payment));
    const reversal = rig.outbox.reverse(payment.saleId, payment.requestId, "cancelled");
    rig.restart();
    rig.settlement.setOnline(true);
    rig.outbox.start();
    await flush();

    expect(rig.settlement.published.map((send) => send.body["requestId"])).toEqual([reversal.requestId]);
  });

  function interruptedOffer() {
    const rig = new HubRig();
    rig.outbox.start();
    const saleId = rig.random.uuid();
    const offer = rig.sealer.offer({ saleId, mode: "tag", amountMinor: 1_500, currency: "EUR" }, 45_000);
    ignoreStop(rig.outbox.expect(offer));
    rig.restart();
    rig.outbox.start();
    const [query] = rig.settlement.ofType("payment_status");
    return { rig, offer, saleId, query: query! };
  }

  it("asks what became of an interrupted tag offer instead of presenting it again", () => {
    const { rig, offer, query } = interruptedOffer();

    expect(query.body).toMatchObject({ paymentRequestId: offer.requestId, seq: 1 });
    expect(rig.journal.findRequest(offer.requestId)!.state).toBe("superseded");
    expect(rig.settlement.published).toHaveLength(1);
  });

  it("an offer the service says a phone paid: the sale is approved", () => {
    const { rig, saleId, query } = interruptedOffer();
    rig.settlement.answer(query, "approved");

    expect(rig.journal.sale(saleId)).toMatchObject({ outcome: "approved", code: 0 });
    expect(rig.journal.openRequests()).toHaveLength(0);
  });

  it("an offer the service already reversed: the sale is reversed, nothing more is sent", () => {
    const { rig, saleId, query } = interruptedOffer();
    rig.settlement.answer(query, "declined", ErrorCode.AlreadyReversed);
    rig.clock.advance(outboxConfig.resendBackoffMaxMs);

    expect(rig.journal.sale(saleId)!.outcome).toBe("reversed");
    expect(rig.settlement.published).toHaveLength(1);
  });

  it("an offer the service has no payment for is voided with a reversal, then reversed", () => {
    const { rig, offer, saleId, query } = interruptedOffer();
    rig.settlement.answer(query, "declined", ErrorCode.UnknownPayment);

    const [reversal] = rig.settlement.ofType("reversal");
    expect(reversal!.body).toMatchObject({ paymentRequestId: offer.requestId, seq: 2 });
    expect(rig.journal.sale(saleId)!.outcome).toBe("pending");
    rig.settlement.answer(reversal!, "approved");
    expect(rig.journal.sale(saleId)!.outcome).toBe("reversed");
    expect(rig.journal.openRequests()).toHaveLength(0);
  });
});

describe("outbox: offline captures", () => {
  it.each([
    ["saleMaxMinor", (rig: HubRig) => offlineSale(rig, limits.saleMaxMinor + 1)],
    [
      "countMax",
      (rig: HubRig) => {
        for (let index = 0; index < limits.countMax; index++) offlineSale(rig, 100);
        offlineSale(rig, 100);
      },
    ],
    [
      "totalMaxMinor",
      (rig: HubRig) => {
        offlineSale(rig, 5_000);
        offlineSale(rig, 3_001);
      },
    ],
    [
      "ageMsMax",
      (rig: HubRig) => {
        offlineSale(rig, 100);
        rig.clock.advance(limits.ageMsMax + 1);
        offlineSale(rig, 100);
      },
    ],
  ] as const)("refuses a sale past %s with OfflineFloorExceeded naming it, and stores nothing for it", (limit, sell) => {
    const rig = new HubRig({ online: false });
    rig.outbox.start();
    let refused: unknown;
    try {
      sell(rig);
    } catch (error) {
      refused = error;
    }

    expect(isTapwireError(refused, ErrorCode.OfflineFloorExceeded) && refused.context?.["limit"]).toBe(limit);
    const stored = rig.journal.offlineBacklog();
    expect(stored.count).toBeLessThanOrEqual(limits.countMax);
    expect(stored.totalMinor).toBeLessThanOrEqual(limits.totalMaxMinor);
  });

  it("stores the capture approved_offline, then forwards captures one at a time, oldest first, each in a fresh envelope", async () => {
    const rig = new HubRig({ online: false });
    rig.outbox.start();
    const first = offlineSale(rig, 1_000);
    const capturedAtMs = rig.clock.nowMs();
    rig.clock.advance(60_000);
    const second = offlineSale(rig, 2_000);
    expect(first.outcome).toBe("approved_offline");
    expect(rig.journal.requestsOf(first.saleId)).toMatchObject([{ kind: "capture", state: "open", payload: undefined }]);
    expect(rig.journal.offlineBacklog()).toMatchObject({ count: 2, totalMinor: 3_000 });
    rig.clock.advance(600_000);

    rig.settlement.setOnline(true);
    await flush();

    const forwards = () => rig.settlement.ofType("offline_capture");
    expect(forwards()).toHaveLength(1);
    expect(forwards()[0]!.body).toMatchObject({
      requestId: first.paymentRequestId,
      seq: 1,
      iat: rig.clock.nowMs(),
      amountMinor: 1_000,
      capturedAt: capturedAtMs,
      backlog: { position: 1, totalMinor: 1_000, oldestCapturedAt: capturedAtMs },
      limits,
    });
    rig.settlement.answer(forwards()[0]!, "approved");
    expect(forwards()).toHaveLength(2);
    expect(forwards()[1]!.body).toMatchObject({ requestId: second.paymentRequestId, seq: 2, backlog: { position: 2, totalMinor: 3_000 } });
    rig.settlement.answer(forwards()[1]!, "approved");
    expect(rig.journal.offlineBacklog().count).toBe(0);
    expect(rig.journal.sale(second.saleId)).toMatchObject({ outcome: "approved_offline", code: 0 });
  });

  it("a forward refused unprocessed goes again in a new envelope under the same requestId", () => {
    const rig = new HubRig({ online: false });
    rig.outbox.start();
    const sale = offlineSale(rig, 1_000);
    rig.settlement.setOnline(true);
    const [forward] = rig.settlement.ofType("offline_capture");
    rig.settlement.answer(forward!, "declined", ErrorCode.MessageExpired);
    rig.clock.advance(2 * outboxConfig.attemptTimeoutMs);

    const again = rig.settlement.ofType("offline_capture").filter((send) => !send.bytes.equals(forward!.bytes));
    expect(again.length).toBeGreaterThanOrEqual(1);
    expect(again[0]!.body).toMatchObject({ requestId: sale.paymentRequestId, seq: 2 });
    rig.settlement.answer(again[0]!, "approved");
    expect(rig.journal.offlineBacklog().count).toBe(0);
  });

  it("a forward the service declines stays approved_offline with the loss code, and the next capture goes", () => {
    const rig = new HubRig({ online: false });
    rig.outbox.start();
    const lost = offlineSale(rig, 1_000);
    const next = offlineSale(rig, 500);
    rig.settlement.setOnline(true);
    rig.settlement.answer(rig.settlement.ofType("offline_capture")[0]!, "declined", ErrorCode.InsufficientFunds);

    expect(rig.journal.sale(lost.saleId)).toMatchObject({ outcome: "approved_offline", code: ErrorCode.InsufficientFunds });
    expect(rig.journal.findRequest(lost.paymentRequestId)!.state).toBe("decided");
    expect(rig.settlement.ofType("offline_capture")[1]!.body["requestId"]).toBe(next.paymentRequestId);
  });
});
