import { describe, expect, it } from "vitest";
import { createActor, fromPromise } from "xstate";
import { openSealed } from "../../protocol/envelope.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { hubRequestSchema, tagOfferSchema, type HceCredential } from "../../protocol/messages.ts";
import type { TapReaderPort } from "../../device/ports.ts";
import { defaultTapTiming } from "../../device/tap/tap-config.ts";
import { tapMachine, tapView, type TapEvent } from "../../device/tap/tap-machine.ts";
import { credential, decision, epochMs, flush, merchantId, hubId, offline, tapConfig, tapRig, type TapRig } from "./fakes.ts";

const t = defaultTapTiming;

function startTap(rig: TapRig, machine = tapMachine, online = true) {
  const actor = createActor(machine, { input: { ports: rig.ports, config: tapConfig(), online }, clock: rig.simulated });
  actor.start();
  return actor;
}

type TapActor = ReturnType<typeof startTap>;

const stateOf = (actor: TapActor) => tapView(actor.getSnapshot()).state;
const sale = (mode: "reader" | "tag" = "reader"): TapEvent => ({ type: "SET_AMOUNT", amountMinor: 1250, currency: "EUR", mode });

/** Reader mode up to the moment the payment request is out, unanswered. */
async function readerPaymentSent(rig: TapRig, actor: TapActor) {
  actor.send(sale());
  rig.reader.reads[0]!.answer.resolve(credential);
  await flush();
  expect(rig.settlement.sent).toHaveLength(1);
  return rig.settlement.sent[0]!;
}

describe("tap machine, reader mode", () => {
  it("reads the card, sends a signed payment request with the credential and shows approved", async () => {
    const rig = tapRig();
    const actor = startTap(rig);
    expect(rig.indicator.last).toBe("idle");

    actor.send(sale());
    expect(stateOf(actor)).toBe("waitingForTap");
    expect(rig.indicator.last).toBe("waiting");
    expect(rig.reader.reads[0]!.input).toMatchObject({ hubId, amountMinor: 1250, currency: "EUR" });

    rig.simulated.increment(2_000);
    rig.reader.reads[0]!.answer.resolve(credential);
    await flush();
    expect(stateOf(actor)).toBe("authorizing");
    expect(rig.indicator.last).toBe("authorizing");

    const sent = rig.settlement.sent[0]!;
    const { body } = openSealed(sent.payload, rig.publicKey, hubRequestSchema);
    expect(body).toMatchObject({
      type: "payment_request",
      hubId,
      merchantId,
      requestId: sent.requestId,
      seq: 1,
      amountMinor: 1250,
      currency: "EUR",
      mode: "reader",
      iat: epochMs + 2_000,
      exp: epochMs + 2_000 + t.requestTtlMs,
      payer: { kind: "hce", walletId: credential.walletId, atc: credential.atc },
    });

    sent.answer.resolve(decision(sent.requestId));
    await flush();
    expect(stateOf(actor)).toBe("approved");
    expect(tapView(actor.getSnapshot())).toMatchObject({ lastDecisionCode: 0, sale: { amountMinor: 1250, currency: "EUR" } });
    expect(rig.indicator.last).toBe("approved");
    expect(rig.indicator.beeps).toEqual(["approved"]);

    rig.simulated.increment(t.resultDisplayMs);
    expect(stateOf(actor)).toBe("idle");
    expect(rig.indicator.last).toBe("idle");
    expect(rig.outbox.size).toBe(0);
  });

  it("shows declined with the service's code", async () => {
    const rig = tapRig();
    const actor = startTap(rig);
    const sent = await readerPaymentSent(rig, actor);

    sent.answer.resolve(decision(sent.requestId, "declined", ErrorCode.InsufficientFunds));
    await flush();

    expect(stateOf(actor)).toBe("declined");
    expect(tapView(actor.getSnapshot()).lastDecisionCode).toBe(ErrorCode.InsufficientFunds);
    expect(rig.indicator.last).toBe("declined");
    expect(rig.indicator.beeps).toEqual(["declined"]);
    expect(rig.indicator.shown).not.toContain("approved");
  });

  it("times out when no card comes, aborting the read and sending nothing", async () => {
    const rig = tapRig();
    const actor = startTap(rig);
    actor.send(sale());

    rig.simulated.increment(t.tapTimeoutMs - 1);
    expect(stateOf(actor)).toBe("waitingForTap");
    rig.simulated.increment(1);

    expect(stateOf(actor)).toBe("timedOut");
    expect(tapView(actor.getSnapshot()).lastDecisionCode).toBe(ErrorCode.TapTimeout);
    expect(rig.reader.reads[0]!.input.signal.aborted).toBe(true);
    expect(rig.settlement.sent).toHaveLength(0);
    rig.simulated.increment(t.resultDisplayMs);
    expect(stateOf(actor)).toBe("idle");
  });

  it("cancel (button) while waiting aborts the read and charges nothing", async () => {
    const rig = tapRig();
    const actor = startTap(rig);
    actor.send(sale());

    rig.indicator.pressCancel();

    expect(stateOf(actor)).toBe("cancelled");
    expect(rig.reader.reads[0]!.input.signal.aborted).toBe(true);
    // A card answering after the abort changes nothing.
    rig.reader.reads[0]!.answer.resolve(credential);
    await flush();
    expect(stateOf(actor)).toBe("cancelled");
    expect(rig.settlement.sent).toHaveLength(0);
    expect(rig.indicator.last).toBe("cancelled");
  });

  it("cancel while authorizing sends a signed reversal, retries the same bytes with backoff, shows cancelled once approved", async () => {
    const rig = tapRig();
    const actor = startTap(rig);
    const payment = await readerPaymentSent(rig, actor);

    actor.send({ type: "CANCEL" });
    await flush();
    expect(stateOf(actor)).toBe("reversing");
    const first = rig.settlement.sent[1]!;
    const { body } = openSealed(first.payload, rig.publicKey, hubRequestSchema);
    expect(body).toMatchObject({ type: "reversal", paymentRequestId: payment.requestId, reason: "cancelled", seq: 2 });
    expect(rig.outbox.has(payment.requestId)).toBe(false);

    // The link is down: two attempts fail, each retry waits longer and resends byte-identical bytes.
    rig.settlement.setOnline(false);
    actor.send({ type: "LINK", online: false });
    first.answer.reject(offline());
    await flush();
    expect(tapView(actor.getSnapshot()).reversal).toMatchObject({ status: "pending", attempts: 1 });
    rig.simulated.increment(t.reversalBackoffBaseMs);
    await flush();
    expect(rig.settlement.sent).toHaveLength(3);
    rig.simulated.increment(t.reversalBackoffBaseMs);
    expect(rig.settlement.sent).toHaveLength(3);
    rig.simulated.increment(t.reversalBackoffBaseMs);
    await flush();
    expect(rig.settlement.sent).toHaveLength(4);
    expect(rig.indicator.shown).not.toContain("cancelled");

    // Link back: the outbox resends, the machine joins that attempt, the service approves.
    rig.settlement.setOnline(true);
    actor.send({ type: "LINK", online: true });
    await flush();
    expect(rig.settlement.sent).toHaveLength(5);
    const retries = rig.settlement.sent.slice(1);
    for (const retry of retries) {
      expect(retry.requestId).toBe(first.requestId);
      expect(retry.payload.equals(first.payload)).toBe(true);
    }
    retries.at(-1)!.answer.resolve(decision(first.requestId));
    await flush();

    expect(stateOf(actor)).toBe("cancelled");
    expect(rig.indicator.last).toBe("cancelled");
    expect(tapView(actor.getSnapshot()).reversal).toMatchObject({ status: "approved", reason: "cancelled" });
    expect(rig.indicator.shown).not.toContain("approved");
    // A late approval of the cancelled payment does nothing.
    payment.answer.resolve(decision(payment.requestId));
    await flush();
    expect(stateOf(actor)).toBe("cancelled");
  });

  it("gives up the reversal after reversalAttemptsMax and shows an error, leaving it in the outbox", async () => {
    const rig = tapRig();
    const actor = startTap(rig);
    await readerPaymentSent(rig, actor);
    rig.settlement.setOnline(false);
    actor.send({ type: "CANCEL" });
    await flush();

    for (let attempt = 1; attempt < t.reversalAttemptsMax; attempt++) {
      rig.simulated.increment(t.reversalBackoffMaxMs);
      await flush();
    }

    expect(stateOf(actor)).toBe("failed");
    expect(tapView(actor.getSnapshot())).toMatchObject({
      lastDecisionCode: ErrorCode.ReversalFailed,
      reversal: { status: "failed", attempts: t.reversalAttemptsMax },
    });
    expect(rig.indicator.last).toBe("error");
    expect(rig.outbox.size).toBe(1);
  });

  it("ignores a decision for another requestId and keeps waiting for its own", async () => {
    const rig = tapRig();
    const actor = startTap(rig);
    const sent = await readerPaymentSent(rig, actor);

    sent.answer.resolve(decision("someone-else"));
    await flush();
    expect(stateOf(actor)).toBe("authorizing");
    expect(rig.settlement.awaited[0]!.requestId).toBe(sent.requestId);

    rig.settlement.awaited[0]!.answer.resolve(decision(sent.requestId, "declined", ErrorCode.LimitExceeded));
    await flush();
    expect(stateOf(actor)).toBe("declined");
    expect(tapView(actor.getSnapshot()).lastDecisionCode).toBe(ErrorCode.LimitExceeded);
  });
});

describe("tap machine never approves on its own", () => {
  it("refuses an amount while offline", () => {
    const rig = tapRig({ online: false });
    const actor = startTap(rig, tapMachine, false);
    expect(rig.indicator.last).toBe("offline");

    actor.send(sale());

    expect(stateOf(actor)).toBe("idle");
    expect(tapView(actor.getSnapshot()).refusal?.code).toBe(ErrorCode.HubNotReady);
    expect(rig.reader.reads).toHaveLength(0);
  });

  it("send rejected Offline: reverses, then shows offline/declined with code Offline", async () => {
    const rig = tapRig();
    const actor = startTap(rig);
    const payment = await readerPaymentSent(rig, actor);

    payment.answer.reject(offline());
    await flush();
    expect(stateOf(actor)).toBe("reversing");
    const reversal = rig.settlement.sent[1]!;
    reversal.answer.resolve(decision(reversal.requestId));
    await flush();

    expect(stateOf(actor)).toBe("declined");
    expect(tapView(actor.getSnapshot()).lastDecisionCode).toBe(ErrorCode.Offline);
    expect(rig.indicator.last).toBe("offline");
    expect(rig.indicator.shown).not.toContain("approved");
  });

  it("a decision lost past decisionTimeout is reversed, and a late approval is ignored", async () => {
    const rig = tapRig();
    const actor = startTap(rig);
    const payment = await readerPaymentSent(rig, actor);

    rig.simulated.increment(t.decisionTimeoutMs);
    await flush();
    expect(stateOf(actor)).toBe("reversing");
    payment.answer.resolve(decision(payment.requestId));
    await flush();
    expect(stateOf(actor)).toBe("reversing");

    const reversal = rig.settlement.sent[1]!;
    expect(openSealed(reversal.payload, rig.publicKey, hubRequestSchema).body).toMatchObject({ type: "reversal", reason: "timeout" });
    reversal.answer.resolve(decision(reversal.requestId, "declined", ErrorCode.AlreadyReversed));
    await flush();

    expect(stateOf(actor)).toBe("timedOut");
    expect(rig.indicator.shown).not.toContain("approved");
  });

  it("link lost while waiting for a card stops the read and declines", () => {
    const rig = tapRig();
    const actor = startTap(rig);
    actor.send(sale());

    actor.send({ type: "LINK", online: false });

    expect(stateOf(actor)).toBe("declined");
    expect(tapView(actor.getSnapshot()).lastDecisionCode).toBe(ErrorCode.Offline);
    expect(rig.reader.reads[0]!.input.signal.aborted).toBe(true);
    expect(rig.indicator.last).toBe("offline");
  });

  it("refuses bad amounts with codes", () => {
    const rig = tapRig();
    const actor = startTap(rig);
    actor.send({ type: "SET_AMOUNT", amountMinor: 12.5, currency: "EUR", mode: "reader" });
    expect(tapView(actor.getSnapshot()).refusal?.code).toBe(ErrorCode.InvalidMoney);
    actor.send({ type: "SET_AMOUNT", amountMinor: 100, currency: "XXX", mode: "reader" });
    expect(tapView(actor.getSnapshot()).refusal?.code).toBe(ErrorCode.UnknownCurrency);
    expect(stateOf(actor)).toBe("idle");
  });
});

describe("tap machine, tag mode", () => {
  it("presents a signed offer with a 16-byte nonce and waits for the wallet's decision on offerId", async () => {
    const rig = tapRig();
    const actor = startTap(rig);

    actor.send(sale("tag"));
    await flush();
    expect(stateOf(actor)).toBe("waitingForTap");
    const offerCall = rig.reader.offers[0]!;
    const { body: offer } = openSealed(offerCall.input.offer, rig.publicKey, tagOfferSchema);
    expect(offer).toMatchObject({ type: "tag_offer", hubId, merchantId, amountMinor: 1250, currency: "EUR", iat: epochMs });
    expect(offer.nonce).toHaveLength(16);
    expect(rig.settlement.awaited[0]!.requestId).toBe(offer.offerId);

    offerCall.answer.resolve();
    await flush();
    expect(stateOf(actor)).toBe("authorizing");
    expect(rig.settlement.awaited[0]!.signal?.aborted).toBe(true);
    const waiting = rig.settlement.awaited[1]!;
    expect(waiting.requestId).toBe(offer.offerId);

    waiting.answer.resolve(decision(offer.offerId));
    await flush();
    expect(stateOf(actor)).toBe("approved");
    expect(rig.settlement.sent).toHaveLength(0);
  });

  it("a decision arriving before the reader reports the read still settles the sale", async () => {
    const rig = tapRig();
    const actor = startTap(rig);
    actor.send(sale("tag"));
    await flush();
    const early = rig.settlement.awaited[0]!;

    early.answer.resolve(decision(early.requestId, "declined", ErrorCode.InsufficientFunds));
    await flush();

    expect(stateOf(actor)).toBe("declined");
    expect(rig.reader.offers[0]!.input.signal.aborted).toBe(true);
  });

  it("cancel after the offer was presented voids the offer before showing cancelled", async () => {
    const rig = tapRig();
    const actor = startTap(rig);
    actor.send(sale("tag"));
    await flush();
    const offerId = rig.settlement.awaited[0]!.requestId;

    actor.send({ type: "CANCEL" });
    await flush();
    expect(rig.reader.offers[0]!.input.signal.aborted).toBe(true);
    expect(stateOf(actor)).toBe("reversing");
    const reversal = rig.settlement.sent[0]!;
    expect(openSealed(reversal.payload, rig.publicKey, hubRequestSchema).body).toMatchObject({
      type: "reversal",
      paymentRequestId: offerId,
      reason: "cancelled",
    });
    reversal.answer.resolve(decision(reversal.requestId));
    await flush();
    expect(stateOf(actor)).toBe("cancelled");
  });
});

describe("tap machine, tag mode timeouts and a full outbox", () => {
  it("tag mode: no phone before tapTimeout voids the offer (reason timeout), then shows timed out", async () => {
    const rig = tapRig();
    const actor = startTap(rig);
    actor.send(sale("tag"));
    await flush();

    rig.simulated.increment(t.tapTimeoutMs);
    await flush();

    expect(stateOf(actor)).toBe("reversing");
    const reversal = rig.settlement.sent[0]!;
    expect(openSealed(reversal.payload, rig.publicKey, hubRequestSchema).body).toMatchObject({ type: "reversal", reason: "timeout" });
    reversal.answer.resolve(decision(reversal.requestId));
    await flush();
    expect(stateOf(actor)).toBe("timedOut");
    expect(rig.indicator.last).toBe("error");
  });

  it("a payment the outbox refuses (OutboxFull) never left the hub: declined, nothing to reverse", async () => {
    const rig = tapRig({ outboxMax: 1 });
    void rig.outbox.send({ requestId: "stuck", payload: Buffer.from("x"), expMs: rig.clock.nowMs() + 60_000 });
    const actor = startTap(rig);

    actor.send(sale());
    rig.reader.reads[0]!.answer.resolve(credential);
    await flush();

    expect(stateOf(actor)).toBe("declined");
    expect(tapView(actor.getSnapshot()).lastDecisionCode).toBe(ErrorCode.OutboxFull);
    expect(rig.settlement.sent.map((call) => call.requestId)).toEqual(["stuck"]);
  });
});

describe("tap machine with provided actors and delays", () => {
  it("runs on swapped implementations (machine.provide)", async () => {
    const rig = tapRig();
    const reads: number[] = [];
    const machine = tapMachine.provide({
      actors: {
        readCard: fromPromise<HceCredential, { reader: TapReaderPort; hubId: string; amountMinor: number; currency: string }>(async ({ input }) => {
          reads.push(input.amountMinor);
          return credential;
        }),
      },
      delays: { resultDisplay: 10 },
    });
    const actor = startTap(rig, machine);

    actor.send(sale());
    await flush();
    const sent = rig.settlement.sent[0]!;
    sent.answer.resolve(decision(sent.requestId));
    await flush();
    expect(stateOf(actor)).toBe("approved");
    rig.simulated.increment(10);

    expect(stateOf(actor)).toBe("idle");
    expect(reads).toEqual([1250]);
  });

  it("rejects an invalid configuration at start-up with ConfigInvalid", () => {
    const rig = tapRig();
    let caught: unknown;
    const actor = createActor(tapMachine, {
      input: { ports: rig.ports, config: tapConfig({ tapTimeoutMs: 5, hubId: "bad id" }) },
      clock: rig.simulated,
    });
    actor.subscribe({ error: (error) => (caught = error) });
    actor.start();
    expect(isTapwireError(caught, ErrorCode.ConfigInvalid)).toBe(true);
  });
});
