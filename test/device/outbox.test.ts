import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import type { Answer } from "../../device/link/outbox.ts";
import { flush, hubId, HubRig, outboxConfig, sealPayment } from "./fakes.ts";

const { attemptTimeoutMs, resendBackoffMaxMs, heldResendMs } = outboxConfig;

function started(options: ConstructorParameters<typeof HubRig>[0] = {}) {
  const rig = new HubRig(options);
  rig.outbox.start();
  return rig;
}

/** Resolves to the answers `promise` gave so far (at most one), without waiting for one. */
function settledAnswer(promise: Promise<Answer>): () => Answer | undefined {
  let answer: Answer | undefined;
  void promise.then((value) => (answer = value));
  return () => answer;
}

describe("outbox: sending and resending the same bytes", () => {
  it("sends the journaled bytes and resends exactly them while no decision comes, backing off up to resendBackoffMaxMs", () => {
    const rig = started();
    const payment = sealPayment(rig);
    void rig.outbox.send(payment);
    rig.clock.advance(10 * resendBackoffMaxMs);

    const sends = rig.settlement.sendsOf(payment.requestId);
    expect(sends.every((send) => send.bytes.equals(payment.payload!))).toBe(true);
    const gapsMs = sends.slice(1).map((send, index) => send.atMs - sends[index]!.atMs);
    const nominalMs = (index: number) => Math.min(resendBackoffMaxMs, attemptTimeoutMs * 2 ** index);
    gapsMs.forEach((gapMs, index) => {
      expect(gapMs).toBeGreaterThanOrEqual(0.8 * nominalMs(index));
      expect(gapMs).toBeLessThanOrEqual(1.2 * nominalMs(index));
    });
    expect(gapsMs.length).toBeGreaterThanOrEqual(10);
  });

  it("sends nothing while offline, and on reconnect every open request in seq order", async () => {
    const rig = started({ online: false });
    const first = sealPayment(rig);
    const second = sealPayment(rig);
    const third = sealPayment(rig);
    void rig.outbox.send(third);
    void rig.outbox.send(first);
    void rig.outbox.send(second);
    const reversal = rig.outbox.reverse(second.saleId, second.requestId, "cancelled");
    rig.clock.advance(5 * attemptTimeoutMs);
    await flush();
    expect(rig.settlement.published).toHaveLength(0);

    rig.settlement.setOnline(true);

    expect(rig.settlement.published.map((send) => send.body["requestId"])).toEqual([first.requestId, third.requestId, reversal.requestId]);
    expect(rig.settlement.published.map((send) => send.body["seq"])).toEqual([1, 3, 4]);
  });

  it("stops resending while the link is down and resends at once when it is back", () => {
    const rig = started();
    const payment = sealPayment(rig);
    void rig.outbox.send(payment);
    rig.settlement.setOnline(false);
    rig.clock.advance(10 * attemptTimeoutMs);
    expect(rig.settlement.sendsOf(payment.requestId)).toHaveLength(1);

    rig.settlement.setOnline(true);

    expect(rig.settlement.sendsOf(payment.requestId)).toHaveLength(2);
    expect(rig.settlement.published[1]!.bytes.equals(payment.payload!)).toBe(true);
  });
});

describe("outbox: matching decisions", () => {
  it("ignores a decision with another requestHash or for another hub, and settles on the matching one", async () => {
    const rig = started();
    const payment = sealPayment(rig);
    const answer = settledAnswer(rig.outbox.send(payment));
    const sent = rig.settlement.published[0]!;

    rig.settlement.answer(sent, "approved", 0, { requestHash: new Uint8Array(32).fill(9) });
    rig.settlement.answer(sent, "approved", 0, { hubId: "hub-2" });
    await flush();
    expect(answer()).toBeUndefined();
    expect(rig.journal.sale(payment.saleId)!.outcome).toBe("pending");

    rig.settlement.answer(sent, "approved");
    await flush();
    expect(answer()).toMatchObject({ requestId: payment.requestId, class: "final", decision: { status: "approved", hubId } });
    expect(rig.journal.sale(payment.saleId)!.outcome).toBe("approved");
    expect(rig.outbox.has(payment.requestId)).toBe(false);
  });

  it.each([ErrorCode.Overloaded, ErrorCode.ServiceUnavailable, ErrorCode.LedgerStorage, ErrorCode.MessageNotYetValid])(
    "keeps a request refused for now (code %i) and resends the same bytes later",
    async (code) => {
      const rig = started();
      const payment = sealPayment(rig);
      const answer = settledAnswer(rig.outbox.send(payment));
      rig.settlement.answer(rig.settlement.published[0]!, "declined", code);
      await flush();
      expect(answer()).toBeUndefined();
      expect(rig.journal.findRequest(payment.requestId)!.state).toBe("open");

      rig.clock.advance(1.2 * attemptTimeoutMs);

      const sends = rig.settlement.sendsOf(payment.requestId);
      expect(sends.length).toBeGreaterThanOrEqual(2);
      expect(sends.at(-1)!.bytes.equals(payment.payload!)).toBe(true);
      rig.settlement.answer(sends.at(-1)!, "approved");
      await flush();
      expect(rig.journal.sale(payment.saleId)!.outcome).toBe("approved");
    },
  );

  it("honours the service's retryAfterMs (never earlier, spread later), and says the request is waiting to retry meanwhile", async () => {
    const rig = started();
    const payment = sealPayment(rig);
    const changes: boolean[] = [];
    rig.outbox.onRetrying((requestId, retrying) => requestId === payment.requestId && changes.push(retrying));
    void rig.outbox.send(payment);
    const retryAfterMs = 4 * attemptTimeoutMs;
    rig.settlement.answer(rig.settlement.published[0]!, "declined", ErrorCode.Overloaded, { retryAfterMs });
    await flush();
    expect(rig.outbox.isRetrying(payment.requestId)).toBe(true);

    rig.clock.advance(retryAfterMs - 1);
    expect(rig.settlement.sendsOf(payment.requestId)).toHaveLength(1);
    rig.clock.advance(0.4 * retryAfterMs + 1);
    const sends = rig.settlement.sendsOf(payment.requestId);
    expect(sends).toHaveLength(2);
    rig.settlement.answer(sends[1]!, "approved");
    await flush();

    expect(rig.outbox.isRetrying(payment.requestId)).toBe(false);
    expect(changes).toEqual([true, false]);
    expect(rig.journal.sale(payment.saleId)!.outcome).toBe("approved");
  });

  it("a fleet told the same retryAfterMs does not come back in step", async () => {
    const retryAfterMs = 4 * attemptTimeoutMs;
    const resendAtMs = new Set<number>();
    for (let seed = 1; seed <= 8; seed += 1) {
      const rig = started({ seed });
      const payment = sealPayment(rig);
      void rig.outbox.send(payment);
      rig.settlement.answer(rig.settlement.published[0]!, "declined", ErrorCode.Overloaded, { retryAfterMs });
      await flush();
      const startMs = rig.clock.nowMs();
      rig.clock.advance(1.5 * retryAfterMs);
      resendAtMs.add(rig.settlement.sendsOf(payment.requestId)[1]!.atMs - startMs);
    }
    expect(resendAtMs.size).toBeGreaterThan(4);
  });

  it("a held payment is asked about again every heldResendMs until its final decision", async () => {
    const rig = started();
    const payment = sealPayment(rig);
    const answer = settledAnswer(rig.outbox.send(payment));
    rig.settlement.answer(rig.settlement.published[0]!, "human_review", ErrorCode.IntentUnclear, { caseId: "case-1" });
    await flush();
    expect(answer()).toMatchObject({ class: "held", decision: { status: "human_review" } });

    rig.clock.advance(heldResendMs - 1);
    expect(rig.settlement.sendsOf(payment.requestId)).toHaveLength(1);
    rig.clock.advance(1);
    rig.clock.advance(heldResendMs);
    expect(rig.settlement.sendsOf(payment.requestId)).toHaveLength(3);
    expect(rig.journal.sale(payment.saleId)!.outcome).toBe("pending");

    rig.settlement.answer(rig.settlement.published[2]!, "approved");
    expect(rig.journal.sale(payment.saleId)!.outcome).toBe("approved");
    rig.clock.advance(10 * heldResendMs);
    expect(rig.settlement.sendsOf(payment.requestId)).toHaveLength(3);
  });

  it("a payment refused unprocessed (expired) is declined, not charged, and not sent again", async () => {
    const rig = started();
    const payment = sealPayment(rig);
    const answer = settledAnswer(rig.outbox.send(payment));
    rig.settlement.answer(rig.settlement.published[0]!, "declined", ErrorCode.MessageExpired);
    await flush();

    expect(answer()).toMatchObject({ class: "not_processed" });
    expect(rig.journal.sale(payment.saleId)).toMatchObject({ outcome: "declined", code: ErrorCode.MessageExpired });
    rig.clock.advance(resendBackoffMaxMs);
    expect(rig.settlement.sendsOf(payment.requestId)).toHaveLength(1);
  });
});

describe("outbox: reversals", () => {
  it("a reversal refused unprocessed gets a new envelope (new requestId and seq, same payment) until one is decided", () => {
    const rig = started();
    const payment = sealPayment(rig);
    void rig.outbox.send(payment);
    rig.outbox.reverse(payment.saleId, payment.requestId, "cancelled");
    expect(rig.journal.findRequest(payment.requestId)!.state).toBe("superseded");

    for (const code of [ErrorCode.SeqReplayed, ErrorCode.MessageExpired]) {
      rig.settlement.answer(rig.settlement.ofType("reversal").at(-1)!, "declined", code);
      rig.clock.advance(2 * attemptTimeoutMs);
    }
    const envelopes = [...new Map(rig.settlement.ofType("reversal").map((send) => [send.body["requestId"], send])).values()];
    expect(envelopes).toHaveLength(3);
    expect(envelopes.map((send) => send.body["paymentRequestId"])).toEqual([payment.requestId, payment.requestId, payment.requestId]);
    expect(envelopes.map((send) => send.body["seq"] as number)).toEqual([2, 3, 4]);
    expect(rig.journal.openRequests().map((request) => request.requestId)).toEqual([envelopes[2]!.body["requestId"]]);

    rig.settlement.answer(envelopes[2]!, "approved");
    expect(rig.journal.sale(payment.saleId)!.outcome).toBe("reversed");
    rig.clock.advance(resendBackoffMaxMs);
    expect(rig.settlement.ofType("reversal").filter((send) => send.atMs > envelopes[2]!.atMs)).toHaveLength(0);
  });

  it("a not-processed answer delivered twice replaces the envelope once", () => {
    const rig = started();
    const payment = sealPayment(rig);
    rig.outbox.reverse(payment.saleId, payment.requestId, "cancelled");
    rig.settlement.answer(rig.settlement.ofType("reversal")[0]!, "declined", ErrorCode.SeqReplayed);
    rig.clock.advance(2 * attemptTimeoutMs);
    const second = rig.settlement.ofType("reversal").at(-1)!;

    rig.settlement.answer(second, "declined", ErrorCode.MessageExpired);
    rig.settlement.answer(second, "declined", ErrorCode.MessageExpired);
    rig.clock.advance(resendBackoffMaxMs);

    const envelopes = new Set(rig.settlement.ofType("reversal").map((send) => send.body["requestId"]));
    expect(envelopes.size).toBe(3);
    expect(rig.journal.openRequests()).toHaveLength(1);
  });

  it("a reversal that finds the payment already reversed has done its job", () => {
    const rig = started();
    const payment = sealPayment(rig);
    rig.outbox.reverse(payment.saleId, payment.requestId, "timeout");
    rig.settlement.answer(rig.settlement.ofType("reversal")[0]!, "declined", ErrorCode.AlreadyReversed);

    expect(rig.journal.sale(payment.saleId)).toMatchObject({ outcome: "reversed", code: 0 });
  });

  it("a reversal the service refuses for good leaves the sale reversal_refused, for a person to look at", () => {
    const rig = started();
    const payment = sealPayment(rig);
    rig.outbox.reverse(payment.saleId, payment.requestId, "timeout");
    rig.settlement.answer(rig.settlement.ofType("reversal")[0]!, "declined", ErrorCode.UnknownMerchant);

    expect(rig.journal.sale(payment.saleId)).toMatchObject({ outcome: "reversal_refused", code: ErrorCode.UnknownMerchant });
    expect(rig.journal.openRequests()).toHaveLength(0);
  });

  it("a late decision for the superseded payment changes nothing: the reversal decides the sale", () => {
    const rig = started();
    const payment = sealPayment(rig);
    void rig.outbox.send(payment);
    rig.outbox.reverse(payment.saleId, payment.requestId, "timeout");
    rig.settlement.answer(rig.settlement.published[0]!, "approved");
    expect(rig.journal.sale(payment.saleId)!.outcome).toBe("pending");

    rig.settlement.answer(rig.settlement.ofType("reversal")[0]!, "approved");
    expect(rig.journal.sale(payment.saleId)!.outcome).toBe("reversed");
  });
});

describe("outbox: the clock watch", () => {
  it("says the clock is wrong on a decision from the future or older than its request, and ok on a consistent one", () => {
    const rig = started();
    const first = sealPayment(rig);
    void rig.outbox.send(first);
    rig.settlement.answer(rig.settlement.published[0]!, "approved", 0, { iat: rig.clock.nowMs() + 60_000 });
    expect(rig.clockWatch.status.state).toBe("wrong");

    const second = sealPayment(rig);
    void rig.outbox.send(second);
    rig.settlement.answer(rig.settlement.sendsOf(second.requestId)[0]!, "approved");
    expect(rig.clockWatch.status.state).toBe("ok");

    const third = sealPayment(rig);
    void rig.outbox.send(third);
    rig.settlement.answer(rig.settlement.sendsOf(third.requestId)[0]!, "approved", 0, { iat: third.iatMs! - 60_000 });
    expect(rig.clockWatch.status.state).toBe("wrong");
  });
});
