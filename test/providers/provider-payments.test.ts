import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fxAccountId, merchantAccountId, providerAccountId } from "../../broker/ledger/ledger.ts";
import { sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { decodeBody } from "../../protocol/cbor.ts";
import { readEnvelope } from "../../protocol/envelope.ts";
import { contract } from "../../protocol/contract.ts";
import { ProviderFixture, turns } from "./provider-fixture.ts";
import { asSqlite } from "../../broker/ledger/sqlite-db.ts";
import { noticesRecheckMs } from "../../broker/providers/provider-stage.ts";

// Every test gets a fresh service, provider and wire.
let p: ProviderFixture;
beforeEach(async () => {
  p = await ProviderFixture.create();
});
afterEach(() => p.close());

describe("a traveller's JPY wallet at its provider pays a EUR merchant", () => {
  it("is approved by the provider, converted at a locked quote carried in the signed decision, and each currency sums to zero", async () => {
    const { f } = p;
    const request = f.hub.paymentRequest(p.traveller, 1_250, { currency: "EUR" });

    // decisionFor verifies the service's COSE_Sign1 signature before it reads the body.
    const decision = await f.decisionFor(f.hub, request.bytes);

    expect(decision).toMatchObject({ status: "approved", code: 0, receipt: { amountMinor: 1_250, currency: "EUR" } });
    // 12.50 EUR × 162.53 = 2031.625 JPY → 2032 (half-even, JPY has no minor digits).
    expect(decision.fx).toMatchObject({ rate: "162.53", rounding: "half_even", rateSource: "test-feed", merchantAmountMinor: 1_250, merchantCurrency: "EUR", payerAmountMinor: 2_032, payerCurrency: "JPY" });
    const { ledger } = f.service;
    expect(ledger.balanceOf(merchantAccountId("m1"))).toBe(1_250);
    expect([ledger.balanceOf(providerAccountId("p1")), ledger.balanceOf(fxAccountId("JPY")), ledger.balanceOf(fxAccountId("EUR"))]).toEqual([-2_032, 2_032, -1_250]);
    expect(p.balancesByCurrency()).toMatchObject({ EUR: 0, JPY: 0 });
    expect(p.provider.balanceOf("jp1")).toBe(100_000 - 2_032);
    // The provider was asked once, signed by the service, for the converted amount with the same quote.
    expect(p.wire.sent).toHaveLength(1);
    const asked = decodeBody(readEnvelope(p.wire.sent[0]!).payload) as Record<string, unknown>;
    expect(asked).toMatchObject({ type: "provider_authorization", providerId: "p1", walletId: "jp1", amountMinor: 2_032, currency: "JPY", fx: { quoteId: decision.fx!.quoteId } });
  });

  it("refunds at the payment's own rate after the rate table changed, in parts that add up to what was paid", async () => {
    const { f } = p;
    const payment = f.hub.paymentRequest(p.traveller, 1_250, { currency: "EUR" });
    const paid = await f.decisionFor(f.hub, payment.bytes);
    const laterMs = f.clock.nowMs() + 3_600_000;
    f.service.fxRates.load([{ base: "EUR", quote: "JPY", rate: "200", rounding: "half_up", source: "next-hour", fromMs: laterMs, toMs: laterMs + 3_600_000 }], f.clock.nowMs());
    f.clock.advance(3_600_000);

    const first = await f.decisionFor(f.hub, f.hub.refund(payment.body.requestId, 500, "EUR").bytes);
    const rest = await f.decisionFor(f.hub, f.hub.refund(payment.body.requestId, 750, "EUR").bytes);

    // 5.00 EUR at 162.53 = 812.65 → 813; the rest is 2032 − 813, not 7.50 × 200.
    expect(first.fx).toMatchObject({ quoteId: paid.fx!.quoteId, rate: "162.53", rounding: "half_even", merchantAmountMinor: 500, payerAmountMinor: 813 });
    expect(rest.fx).toMatchObject({ quoteId: paid.fx!.quoteId, rate: "162.53", merchantAmountMinor: 750, payerAmountMinor: 1_219 });
    const { ledger } = f.service;
    expect([ledger.balanceOf(merchantAccountId("m1")), ledger.balanceOf(providerAccountId("p1")), ledger.balanceOf(fxAccountId("JPY")), ledger.balanceOf(fxAccountId("EUR"))]).toEqual([0, 0, 0, 0]);
    expect(p.balancesByCurrency()).toMatchObject({ EUR: 0, JPY: 0 });
    // The provider was told of both give-backs and credited the traveller's wallet with exactly what it paid.
    await turns(() => p.provider.balanceOf("jp1") === 100_000);
    expect(p.provider.balanceOf("jp1")).toBe(100_000);
    expect(p.wire.sent).toHaveLength(3);
    // The stored decisions account for every leg, in both currencies.
    expect(f.service.verifyEvidence()).toMatchObject({ ok: true, problems: [] });
    // A new payment now converts at the new rate.
    const now = await f.decisionFor(f.hub, f.hub.paymentRequest(p.traveller, 100, { currency: "EUR" }).bytes);
    expect(now.fx).toMatchObject({ rate: "200", payerAmountMinor: 200 });
  });

  it("posts a request sent three times at once once, and asks the provider about it once", async () => {
    const { f } = p;
    const request = f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR" });
    const transfersBefore = f.service.ledger.transferCount();

    const outbounds = await Promise.all([f.fromHub(f.hub, request.bytes), f.fromHub(f.hub, request.bytes), f.fromHub(f.hub, request.bytes)]);

    const decisions = outbounds.map((o) => f.open(o[0]!.payload));
    expect(decisions.map((d) => d.status)).toEqual(["approved", "approved", "approved"]);
    expect(new Set(outbounds.map((o) => o[0]!.payload.toString("hex"))).size).toBe(1);
    expect(f.service.ledger.transferCount() - transfersBefore).toBe(2);
    expect(p.wire.sent).toHaveLength(1);
    expect(p.provider.balanceOf("jp1")).toBe(100_000 - 1_625);
    // A retry after the decision is answered from the stored decision, without asking again.
    await f.decisionFor(f.hub, request.bytes);
    expect(p.wire.sent).toHaveLength(1);
  });

  it("declines ProviderTimeout when the provider stays silent past the deadline, and moves no money", async () => {
    const { f } = p;
    p.provider.behaviour = "silent";
    const pending = f.decisionFor(f.hub, f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR" }).bytes);
    await turns(() => p.wire.sent.length === 1);

    p.timers.advance(contract.providerAnswerMsMax);
    const decision = await pending;

    expect(decision.code).toBe(ErrorCode.ProviderTimeout);
    expect(f.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(0);
    expect(p.balancesByCurrency()).toMatchObject({ JPY: 0 });
  });

  it("declines ProviderTimeout for a late answer, and refuses that answer when it comes", async () => {
    const { f } = p;
    p.provider.behaviour = "late";
    const pending = f.decisionFor(f.hub, f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR" }).bytes);
    await turns(() => p.wire.sent.length === 1);

    p.timers.advance(contract.providerAnswerMsMax);
    expect((await pending).code).toBe(ErrorCode.ProviderTimeout);
    p.timers.advance(60_000);
    await turns(() => p.refusals.length === 1);

    expect(p.refusals).toEqual([ErrorCode.ProviderAnswerReplayed]);
    expect(f.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(0);
  });

  it("declines ProviderUnavailable when the provider is revoked, without asking it", async () => {
    const { f } = p;
    f.service.providers.revoke("p1", f.clock.nowMs());

    const decision = await f.decisionFor(f.hub, f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR" }).bytes);

    expect(decision.code).toBe(ErrorCode.ProviderUnavailable);
    expect(p.wire.sent).toHaveLength(0);
  });

  it("passes the provider's decline on as ProviderDeclined, and never asks about an amount above the wallet's limit", async () => {
    const { f } = p;
    // 50.00 EUR is 8126 JPY, above jp1's per-payment limit of 5000.
    const tooMuch = await f.decisionFor(f.hub, f.hub.paymentRequest(p.traveller, 5_000, { currency: "EUR" }).bytes);
    expect(p.wire.sent).toHaveLength(0);
    p.provider.behaviour = "decline";
    const declined = await f.decisionFor(f.hub, f.hub.paymentRequest(p.traveller, 100, { currency: "EUR" }).bytes);

    expect([tooMuch.code, declined.code]).toEqual([ErrorCode.LimitExceeded, ErrorCode.ProviderDeclined]);
    expect(f.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(0);
  });

  it("releases at the provider an approval the batch then declined (a replayed counter), so the traveller's money is not held", async () => {
    const { f } = p;
    const first = f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR" });
    await f.decisionFor(f.hub, first.bytes);
    // The same cryptogram (ATC 1) again under a new request id: its signature is good, its counter is spent.
    const replayed = f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR", payer: first.body.payer });

    const decision = await f.decisionFor(f.hub, replayed.bytes);
    await turns(() => p.provider.released === 1);

    expect(decision.code).toBe(ErrorCode.CounterReplayed);
    expect(p.wire.sent).toHaveLength(3);
    expect(p.provider.released).toBe(1);
    expect(p.provider.balanceOf("jp1")).toBe(100_000 - 1_625);
    expect(f.service.ledger.balanceOf(providerAccountId("p1"))).toBe(-1_625);
  });

  it("pays a merchant in the provider's own currency without a quote, and tells the provider of a refund", async () => {
    const { f } = p;
    f.service.registry.enrollMerchant({ merchantId: "m-jp", currency: "JPY", displayName: "Kissa" });
    const jpHub = f.enrollHub("h-jp", "m-jp");
    const payment = jpHub.paymentRequest(p.traveller, 1_000, { currency: "JPY" });

    const paid = await f.decisionFor(jpHub, payment.bytes);
    const refunded = await f.decisionFor(jpHub, jpHub.refund(payment.body.requestId, 400, "JPY").bytes);
    await turns(() => p.provider.balanceOf("jp1") === 100_000 - 600);

    expect([paid.status, paid.fx, refunded.status, refunded.fx]).toEqual(["approved", undefined, "approved", undefined]);
    expect([f.service.ledger.balanceOf(merchantAccountId("m-jp")), f.service.ledger.balanceOf(providerAccountId("p1"))]).toEqual([600, -600]);
    expect(p.provider.balanceOf("jp1")).toBe(100_000 - 600);
  });

  it("sends a give-back notice another settlement worker left unsent once noticesRecheckMs passed, without looking after every batch", async () => {
    const { f } = p;
    const refundsSent = () =>
      p.wire.sent.map((payload) => decodeBody(readEnvelope(payload).payload) as Record<string, unknown>).filter((body) => body["type"] === "provider_refund");
    const paid = await f.decisionFor(f.hub, f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR" }).bytes);
    expect(paid.status).toBe("approved");
    // What another worker's refund batch wrote before it stopped: the notice, never sent.
    const db = asSqlite(f.service.database);
    const authorizationId = db.prepare("SELECT authorization_id FROM provider_authorizations").pluck().get() as string;
    db.prepare("INSERT INTO provider_notices (provider_id, authorization_id, reference, amount_minor, currency, created_at_ms) VALUES ('p1', ?, 'h9/r-other', 100, 'JPY', ?)").run(
      authorizationId,
      f.clock.nowMs(),
    );

    await f.decisionFor(f.hub, f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR" }).bytes);
    expect(refundsSent()).toEqual([]);
    f.clock.advance(noticesRecheckMs);
    await f.decisionFor(f.hub, f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR" }).bytes);

    expect(refundsSent()).toMatchObject([{ reference: "h9/r-other", amountMinor: 100, currency: "JPY" }]);
    expect(db.prepare("SELECT COUNT(*) FROM provider_notices WHERE sent_at_ms IS NULL").pluck().get()).toBe(0);
  });

  it("keeps one hold at the provider when the batch fails after its approval: the retry asks again under the same id", async () => {
    const { f } = p;
    const request = f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR" });
    const db = asSqlite(f.service.database);
    db.pragma("query_only = ON");

    const failed = await f.decisionFor(f.hub, request.bytes);
    db.pragma("query_only = OFF");
    const retried = await f.decisionFor(f.hub, request.bytes);

    expect([failed.code, retried.status]).toEqual([ErrorCode.LedgerStorage, "approved"]);
    const asked = p.wire.sent.map((bytes) => (decodeBody(readEnvelope(bytes).payload) as { authorizationId: string }).authorizationId);
    expect(asked).toHaveLength(2);
    expect(asked[1]).toBe(asked[0]);
    expect(p.provider.balanceOf("jp1")).toBe(100_000 - 1_625);
    expect(f.service.ledger.balanceOf(providerAccountId("p1"))).toBe(-1_625);
  });

  it("declines FxRateMissing, without asking the provider, when no rate is valid", async () => {
    const { f } = p;
    f.clock.advance(3_600_000);

    const decision = await f.decisionFor(f.hub, f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR" }).bytes);

    expect(decision.code).toBe(ErrorCode.FxRateMissing);
    expect(p.wire.sent).toHaveLength(0);
  });
});

describe("provider answers the service does not take", () => {
  it("refuses a forged answer (another key) and a malformed one, and still takes the real answer after them", async () => {
    const { f } = p;
    p.wire.deliver = false;
    const pending = f.decisionFor(f.hub, f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR" }).bytes);
    await turns(() => p.wire.sent.length === 1);
    const asked = decodeBody(readEnvelope(p.wire.sent[0]!).payload) as { authorizationId: string };
    const forged = sealMessage(
      { type: "provider_answer", v: 1, authorizationId: asked.authorizationId, providerId: "p1", requestHash: new Uint8Array(32), status: "approved", reason: "ok", amountMinor: 1_625, currency: "JPY", iat: f.clock.nowMs() },
      generateP256().privateKey,
    );

    expect(p.answer(forged)).toBe(ErrorCode.ProviderAnswerInvalid);
    expect(p.answer(Buffer.from("not cose"))).toBe(ErrorCode.ProviderAnswerInvalid);
    expect(p.answer(forged, "p-unknown")).toBe(ErrorCode.ProviderAnswerInvalid);
    p.provider.receive(p.wire.sent[0]!);
    const decision = await pending;

    expect(decision.status).toBe("approved");
    expect(f.service.ledger.balanceOf(providerAccountId("p1"))).toBe(-1_625);
  });

  it("refuses an answer with other amounts than asked, even signed by the provider", async () => {
    const { f } = p;
    p.wire.deliver = false;
    const pending = f.decisionFor(f.hub, f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR" }).bytes);
    await turns(() => p.wire.sent.length === 1);
    const sent = p.wire.sent[0]!;
    const asked = decodeBody(readEnvelope(sent).payload) as { authorizationId: string };
    const { bodyHash } = await import("../../protocol/messages.ts");
    const smaller = sealMessage(
      { type: "provider_answer", v: 1, authorizationId: asked.authorizationId, providerId: "p1", requestHash: bodyHash(readEnvelope(sent).payload), status: "approved", reason: "ok", amountMinor: 1, currency: "JPY", iat: f.clock.nowMs() },
      p.providerKeys.privateKey,
    );

    expect(p.answer(smaller)).toBe(ErrorCode.ProviderAnswerInvalid);
    p.timers.advance(contract.providerAnswerMsMax);
    expect((await pending).code).toBe(ErrorCode.ProviderTimeout);
  });

  it("refuses a replayed approval: an earlier payment's answer does not approve a new payment, nor its own twice", async () => {
    const { f } = p;
    await f.decisionFor(f.hub, f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR" }).bytes);
    const earlier = p.wire.answers[0]!;
    p.wire.deliver = false;
    const pending = f.decisionFor(f.hub, f.hub.paymentRequest(p.traveller, 1_000, { currency: "EUR" }).bytes);
    await turns(() => p.wire.sent.length === 2);

    expect(p.answer(earlier)).toBe(ErrorCode.ProviderAnswerReplayed);
    p.timers.advance(contract.providerAnswerMsMax);

    expect((await pending).code).toBe(ErrorCode.ProviderTimeout);
    expect(p.answer(earlier)).toBe(ErrorCode.ProviderAnswerReplayed);
    expect(f.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(1_000);
  });
});

describe("converted payments from an in-house wallet", () => {
  it("pays a EUR merchant from an in-house JPY wallet through the FX positions, and declines FxRateMissing for a pair with no rate", async () => {
    const { f } = p;
    const yen = f.enrollWallet("jp-home", 50_000, "JPY");
    f.service.registry.enrollMerchant({ merchantId: "m-kw", currency: "KWD", displayName: "Souq" });
    const kwHub = f.enrollHub("h-kw", "m-kw");

    const paid = await f.decisionFor(f.hub, f.hub.paymentRequest(yen, 1_000, { currency: "EUR" }).bytes);
    const noRate = await f.decisionFor(kwHub, kwHub.paymentRequest(yen, 1_000, { currency: "KWD" }).bytes);

    expect(paid.fx).toMatchObject({ payerAmountMinor: 1_625, payerCurrency: "JPY" });
    expect(f.service.ledger.balanceOf("wallet:jp-home")).toBe(50_000 - 1_625);
    expect(noRate.code).toBe(ErrorCode.FxRateMissing);
    expect(p.wire.sent).toHaveLength(0);
    expect(p.balancesByCurrency()).toMatchObject({ EUR: 0, JPY: 0 });
  });
});

describe("reversing a converted payment", () => {
  it("gives back what is left at the payment's own rate, exactly what the payer paid in all", async () => {
    const { f } = p;
    const yen = f.enrollWallet("jp-home", 50_000, "JPY");
    const payment = f.hub.paymentRequest(yen, 999, { currency: "EUR" });
    const paid = await f.decisionFor(f.hub, payment.bytes);
    f.service.fxRates.load([{ base: "EUR", quote: "JPY", rate: "1", rounding: "half_up", source: "crash", fromMs: f.clock.nowMs(), toMs: f.clock.nowMs() + 60_000 }], f.clock.nowMs());

    const refund = await f.decisionFor(f.hub, f.hub.refund(payment.body.requestId, 333, "EUR").bytes);
    const reversal = await f.decisionFor(f.hub, f.hub.reversal(payment.body.requestId).bytes);

    // 9.99 EUR × 162.53 = 1623.67 → 1624 JPY; 3.33 EUR → 541.22 → 541; the rest 1624 − 541.
    expect(paid.fx).toMatchObject({ payerAmountMinor: 1_624 });
    expect(refund.fx).toMatchObject({ quoteId: paid.fx!.quoteId, rate: "162.53", merchantAmountMinor: 333, payerAmountMinor: 541 });
    expect(reversal.fx).toMatchObject({ quoteId: paid.fx!.quoteId, rate: "162.53", merchantAmountMinor: 666, payerAmountMinor: 1_083 });
    expect(f.service.ledger.balanceOf("wallet:jp-home")).toBe(50_000);
    expect(p.balancesByCurrency()).toMatchObject({ EUR: 0, JPY: 0 });
    expect(f.service.verifyEvidence().ok).toBe(true);
  });
});
