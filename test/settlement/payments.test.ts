import { describe, expect, it } from "vitest";
import { encodeBody } from "../../protocol/cbor.ts";
import { signSign1 } from "../../protocol/cose.ts";
import { messageBytesMax } from "../../protocol/envelope.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import type { SettlementFixture, TestHub } from "./fixtures.ts";
import { freshFixtureEachTest } from "./preamble.ts";

let f: SettlementFixture;
freshFixtureEachTest((created) => (f = created));

/** A fresh, valid payment from the fixture hub must still be approved: bad input never wedges the service. */
async function expectNextPaymentApproved(hub: TestHub = f.hub): Promise<void> {
  const before = f.service.ledger.balanceOf(merchantAccountId(hub.merchantId));
  const decision = await f.decisionFor(hub, hub.paymentRequest(f.wallet, 100).bytes);
  expect(decision.status).toBe("approved");
  expect(f.service.ledger.balanceOf(merchantAccountId(hub.merchantId))).toBe(before + 100);
  f.service.ledger.checkInvariants();
}

describe("payments", () => {
  it("approves a valid HCE payment, posts it once and keeps the ledger balanced", async () => {
    const request = f.hub.paymentRequest(f.wallet, 1_250);

    const outbound = await f.fromHub(f.hub, request.bytes);

    expect(outbound).toHaveLength(1);
    expect(outbound[0]).toMatchObject({ kind: "hub", id: "h1" });
    expect(outbound[0]!.expiresAtMs).toBeGreaterThan(f.clock.nowMs());
    const decision = f.open(outbound[0]!.payload);
    expect(decision).toMatchObject({ status: "approved", code: 0, requestId: request.body.requestId, hubId: "h1", requestType: "payment_request" });
    expect(decision.exp).toBe(outbound[0]!.expiresAtMs);
    expect(decision.receipt).toMatchObject({ merchantId: "m1", amountMinor: 1_250, currency: "EUR", payerMasked: "…" });
    expect(f.service.ledger.balanceOf(walletAccountId("w1"))).toBe(8_750);
    expect(f.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(1_250);
    expect(f.service.paymentsOf("m1")).toHaveLength(1);
    expect(f.service.ledger.checkInvariants().balanceSumMinorByCurrency).toEqual({ EUR: 0 });
  });

  it("declines insufficient funds, posts nothing, and stores the decline for retries", async () => {
    const poor = f.enrollWallet("w-poor", 50);
    const transfersBefore = f.service.ledger.transferCount();
    const request = f.hub.paymentRequest(poor, 60);

    const decision = await f.decisionFor(f.hub, request.bytes);
    const retry = await f.fromHub(f.hub, request.bytes);

    expect(decision).toMatchObject({ status: "declined", code: ErrorCode.InsufficientFunds });
    expect(f.service.ledger.transferCount()).toBe(transfersBefore);
    expect(f.service.ledger.balanceOf(walletAccountId("w-poor"))).toBe(50);
    expect(f.open(retry[0]!.payload)).toEqual(decision);
    await expectNextPaymentApproved();
  });

  it("declines an amount above the wallet's per-payment limit", async () => {
    const decision = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 5_001).bytes);

    expect(decision.code).toBe(ErrorCode.LimitExceeded);
    await expectNextPaymentApproved();
  });

  it("declines a payment for an unknown wallet and one in another currency", async () => {
    const ghost = f.hub.paymentRequest(f.wallet, 100, { payer: { ...f.wallet.hceCredential("h1", 100, "EUR"), walletId: "w-ghost" } });
    const dollars = f.hub.paymentRequest(f.wallet, 100, { currency: "USD" });

    expect((await f.decisionFor(f.hub, ghost.bytes)).code).toBe(ErrorCode.UnknownWallet);
    expect((await f.decisionFor(f.hub, dollars.bytes)).code).toBe(ErrorCode.CurrencyMismatch);
    await expectNextPaymentApproved();
  });

  it("posts exactly one transfer for the same request sent 5 times concurrently, with byte-identical decisions", async () => {
    const request = f.hub.paymentRequest(f.wallet, 700);
    const transfersBefore = f.service.ledger.transferCount();

    const answers = await Promise.all(Array.from({ length: 5 }, () => f.fromHub(f.hub, request.bytes)));

    expect(f.service.ledger.transferCount()).toBe(transfersBefore + 1);
    expect(f.service.ledger.balanceOf(walletAccountId("w1"))).toBe(9_300);
    const payloads = answers.map((a) => a[0]!.payload);
    for (const payload of payloads) expect(payload.equals(payloads[0]!)).toBe(true);
    expect(f.open(payloads[0]!).status).toBe("approved");
  });

  it("returns the same bytes for a retry in a later batch, and for the same body signed again", async () => {
    const request = f.hub.paymentRequest(f.wallet, 300);
    const first = await f.fromHub(f.hub, request.bytes);
    f.clock.advance(1_000);

    const resent = await f.fromHub(f.hub, request.bytes);
    const resigned = await f.fromHub(f.hub, f.hub.seal(request.body));

    expect(resent[0]!.payload.equals(first[0]!.payload)).toBe(true);
    expect(resigned[0]!.payload.equals(first[0]!.payload)).toBe(true);
    expect(f.service.paymentsOf("m1")).toHaveLength(1);
  });

  it("retries an approved request after a restart on the same file: same decision, no second posting", async () => {
    const request = f.hub.paymentRequest(f.wallet, 400);
    const first = await f.fromHub(f.hub, request.bytes);

    await f.restart();
    const again = await f.fromHub(f.hub, request.bytes);

    expect(again[0]!.payload.equals(first[0]!.payload)).toBe(true);
    expect(f.service.ledger.balanceOf(walletAccountId("w1"))).toBe(9_600);
    expect(f.service.paymentsOf("m1")).toHaveLength(1);
    f.service.ledger.checkInvariants();
    await expectNextPaymentApproved();
  });
});

describe("refused before anything is stored", () => {
  it("refuses a forged signature", async () => {
    const request = f.hub.paymentRequest(f.wallet, 100);
    const forged = Buffer.from(request.bytes);
    forged[forged.length - 1]! ^= 0xff;

    const decision = await f.decisionFor(f.hub, forged);

    expect(decision).toMatchObject({ status: "declined", code: ErrorCode.BadSignature, requestId: request.body.requestId });
    expect(f.service.paymentsOf("m1")).toHaveLength(0);
    // Not stored: the genuine message with that id is still accepted.
    expect((await f.decisionFor(f.hub, request.bytes)).status).toBe("approved");
  });

  it("refuses a message signed with another hub's key", async () => {
    const other = f.enrollHub("h2", "m1");
    const request = f.hub.paymentRequest(f.wallet, 100);

    const decision = await f.decisionFor(f.hub, other.seal(request.body));

    expect(decision.code).toBe(ErrorCode.BadSignature);
    expect(f.service.paymentsOf("m1")).toHaveLength(0);
    await expectNextPaymentApproved();
  });

  it("refuses a body naming another hub than the topic, and another merchant than the hub's", async () => {
    f.service.registry.enrollMerchant({ merchantId: "m2", currency: "EUR" });
    const otherBody = f.hub.paymentRequest(f.wallet, 100, { hubId: "h2" });
    const otherMerchant = f.hub.paymentRequest(f.wallet, 100, { merchantId: "m2" });

    expect((await f.decisionFor(f.hub, otherBody.bytes)).code).toBe(ErrorCode.HubMismatch);
    expect((await f.decisionFor(f.hub, otherMerchant.bytes)).code).toBe(ErrorCode.MerchantMismatch);
    await expectNextPaymentApproved();
  });

  it("refuses a revoked hub, also for messages already queued, and tells onRevoked listeners", async () => {
    const revoked: string[] = [];
    f.service.registry.onRevoked((hub) => revoked.push(hub.hubId));
    const queued = f.fromHub(f.hub, f.hub.paymentRequest(f.wallet, 100).bytes);

    f.service.registry.revokeHub("h1");
    const inFlight = f.open((await queued)[0]!.payload);
    const later = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100).bytes);

    expect(revoked).toEqual(["h1"]);
    expect(inFlight.code).toBe(ErrorCode.Revoked);
    expect(later.code).toBe(ErrorCode.Revoked);
    expect(f.service.ledger.transferCount()).toBe(1);
    await expectNextPaymentApproved(f.enrollHub("h3", "m1"));
  });

  it("refuses an unknown hub", async () => {
    const stranger = f.hub.paymentRequest(f.wallet, 100, { hubId: "h-unknown" });

    const outbound = await f.send("hub", "h-unknown", stranger.bytes);

    expect(outbound).toHaveLength(1);
    expect(f.open(outbound[0]!.payload)).toMatchObject({ code: ErrorCode.UnknownHub, hubId: "h-unknown" });
  });

  it("refuses a replayed seq", async () => {
    const first = f.hub.paymentRequest(f.wallet, 100);
    await f.decisionFor(f.hub, first.bytes);

    const replay = f.hub.paymentRequest(f.wallet, 100, { seq: first.body.seq });
    const decision = await f.decisionFor(f.hub, replay.bytes);

    expect(decision.code).toBe(ErrorCode.SeqReplayed);
    expect(f.service.paymentsOf("m1")).toHaveLength(1);
    await expectNextPaymentApproved();
  });

  it("refuses expired, not-yet-valid and too-long-lived requests", async () => {
    const expired = f.hub.paymentRequest(f.wallet, 100);
    f.clock.advance(60_001);
    const early = f.hub.paymentRequest(f.wallet, 100, { iat: f.clock.nowMs() + 30_001, exp: f.clock.nowMs() + 60_000 });
    const longLived = f.hub.paymentRequest(f.wallet, 100, { exp: f.clock.nowMs() + 300_001 });

    expect((await f.decisionFor(f.hub, expired.bytes)).code).toBe(ErrorCode.MessageExpired);
    expect((await f.decisionFor(f.hub, early.bytes)).code).toBe(ErrorCode.MessageNotYetValid);
    expect((await f.decisionFor(f.hub, longLived.bytes)).code).toBe(ErrorCode.MessageLifetimeTooLong);
    expect(f.service.ledger.transferCount()).toBe(1);
    await expectNextPaymentApproved();
  });

  it("answers a retry of an approved payment with the same approval even after the request expired", async () => {
    const paid = f.hub.paymentRequest(f.wallet, 100);
    const firstAnswer = await f.fromHub(f.hub, paid.bytes);
    f.clock.advance(60_001);

    const retry = await f.fromHub(f.hub, paid.bytes);

    expect(retry[0]!.payload.equals(firstAnswer[0]!.payload)).toBe(true);
    expect((await f.decisionFor(f.hub, paid.bytes)).status).toBe("approved");
    expect(f.service.ledger.transferCount()).toBe(2);
  });

  it("refuses a reused request id with a changed amount and keeps the first decision", async () => {
    const first = f.hub.paymentRequest(f.wallet, 100);
    const firstAnswer = await f.fromHub(f.hub, first.bytes);

    const changed = f.hub.paymentRequest(f.wallet, 900, { requestId: first.body.requestId });
    const decision = await f.decisionFor(f.hub, changed.bytes);
    const original = await f.fromHub(f.hub, first.bytes);

    expect(decision.code).toBe(ErrorCode.RequestIdReused);
    expect(original[0]!.payload.equals(firstAnswer[0]!.payload)).toBe(true);
    expect(f.service.ledger.balanceOf(walletAccountId("w1"))).toBe(9_900);
    await expectNextPaymentApproved();
  });

  it("refuses malformed CBOR, a non-COSE structure and a body that fails the schema", async () => {
    const garbage = Buffer.from([0xff, 0x00, 0x13, 0x37]);
    const notCose = encodeBody({ hello: "world" });
    const badSchema = f.hub.seal({ type: "payment_request", v: 1, hubId: "h1", amountMinor: -5 });

    const codes = [];
    for (const payload of [garbage, notCose, badSchema]) codes.push((await f.decisionFor(f.hub, payload)).code);

    expect(codes).toEqual([ErrorCode.MalformedCbor, ErrorCode.MalformedCose, ErrorCode.SchemaInvalid]);
    await expectNextPaymentApproved();
  });

  it("refuses an oversize body before parsing it", async () => {
    const oversize = signSign1(Buffer.alloc(messageBytesMax), f.hub.keys.privateKey);

    const decision = await f.decisionFor(f.hub, oversize);

    expect(decision).toMatchObject({ code: ErrorCode.PayloadTooLarge, requestId: "" });
    await expectNextPaymentApproved();
  });

});

describe("payer credentials", () => {
  it("declines a replayed ATC, even when the wallet's counter moved on", async () => {
    const credential = f.wallet.hceCredential("h1", 100, "EUR");
    await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100, { payer: credential }).bytes);

    const replayed = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100, { payer: credential }).bytes);

    expect(replayed).toMatchObject({ status: "declined", code: ErrorCode.CounterReplayed });
    expect(f.service.paymentsOf("m1")).toHaveLength(1);
    await expectNextPaymentApproved();
  });

  it("declines a cryptogram made for another amount, another hub or by another key", async () => {
    const wrongAmount = f.hub.paymentRequest(f.wallet, 100, { payer: f.wallet.hceCredential("h1", 99, "EUR") });
    const wrongHub = f.hub.paymentRequest(f.wallet, 100, { payer: f.wallet.hceCredential("h-other", 100, "EUR") });
    const stranger = f.enrollWallet("w2", 1_000);
    const wrongKey = f.hub.paymentRequest(f.wallet, 100, { payer: { ...stranger.hceCredential("h1", 100, "EUR"), walletId: "w1" } });

    for (const request of [wrongAmount, wrongHub, wrongKey]) {
      expect((await f.decisionFor(f.hub, request.bytes)).code).toBe(ErrorCode.PayerCredentialInvalid);
    }
    expect(f.service.ledger.transferCount()).toBe(2);
    await expectNextPaymentApproved();
  });

  it("declines a payer kind with no verifier installed", async () => {
    const glasses = f.hub.paymentRequest(f.wallet, 100, {
      mode: "glasses",
      payer: { kind: "glasses", walletId: "w1", glassesId: "g1", assertion: new Uint8Array(8) },
    });

    expect((await f.decisionFor(f.hub, glasses.bytes)).code).toBe(ErrorCode.UnsupportedRequest);
    await expectNextPaymentApproved();
  });
});
