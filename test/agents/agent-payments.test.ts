import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import { sealMessage } from "../../protocol/envelope.ts";
import { AgentFixture, TestAgent, dayMs, mandateFor, mandateRevoke } from "./fixtures.ts";

let a: AgentFixture;
beforeEach(async () => {
  a = await AgentFixture.create();
});
afterEach(async () => {
  await a.close();
});

describe("open mandates", () => {
  it("registers a wallet-signed mandate once", async () => {
    const registered = await a.registerMandate();

    expect(registered).toMatchObject({ status: "approved", requestId: "mandate-1", requestType: "open_mandate" });
    expect(a.service.findMandate("mandate-1")).toMatchObject({ budgetMinor: 5_000, spentMinor: 0, status: "active", agentId: "a1" });
  });

  it("refuses a constraint it does not understand, and a mandate that allows no merchant or category", async () => {
    const unknown = { ...mandateFor(a.f.wallet, a.agent, a.f.clock), maxPerDay: 3 };
    const withUnknown = await a.fromWallet(a.f.wallet, sealMessage(unknown, a.f.wallet.keys.privateKey));
    const unbounded = mandateFor(a.f.wallet, a.agent, a.f.clock, { mandateId: "mandate-2", allowedMerchants: [], allowedCategories: [] });
    const noScope = await a.fromWallet(a.f.wallet, sealMessage(unbounded, a.f.wallet.keys.privateKey));

    expect(withUnknown.code).toBe(ErrorCode.MandateConstraintUnmet);
    expect(noScope.code).toBe(ErrorCode.MandateInvalid);
    expect(a.service.mandatesOf("w1")).toEqual([]);
  });

  it("refuses a mandate signed by another key than the wallet's", async () => {
    const other = generateP256();

    const forged = await a.fromWallet(a.f.wallet, sealMessage(mandateFor(a.f.wallet, a.agent, a.f.clock), other.privateKey));

    expect(forged.code).toBe(ErrorCode.BadSignature);
    expect(a.service.findMandate("mandate-1")).toBeUndefined();
  });
});

describe("agent payments within a mandate", () => {
  beforeEach(async () => {
    expect((await a.registerMandate()).status).toBe("approved");
  });

  it("approves a payment within limits, posts it once and counts it against the budget", async () => {
    const payment = a.agent.payment("mandate-1", 1_200);

    const decision = await a.fromAgent(payment.bytes);

    expect(decision).toMatchObject({ status: "approved", code: 0, requestId: payment.body.requestId, hubId: "a1" });
    expect(decision.receipt).toMatchObject({ paymentId: "agentpay-1", merchantId: "m1", amountMinor: 1_200, currency: "EUR" });
    expect(a.service.ledger.balanceOf(walletAccountId("w1"))).toBe(8_800);
    expect(a.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(1_200);
    expect(a.service.findMandate("mandate-1")!.spentMinor).toBe(1_200);
    a.service.ledger.checkInvariants();
  });

  it("holds a payment above the per-payment maximum, or at a merchant outside the mandate, for the person's step-up", async () => {
    a.service.registry.enrollMerchant({ merchantId: "m2", currency: "EUR" });
    const big = await a.fromAgent(a.agent.payment("mandate-1", 2_500).bytes);
    const elsewhere = await a.fromAgent(a.agent.payment("mandate-1", 500, { merchantId: "m2", category: "electronics" }).bytes);

    expect(big).toMatchObject({ status: "step_up_required", code: ErrorCode.HeldForStepUp });
    expect(big.caseId).toMatch(/^stepup-/);
    expect(elsewhere.status).toBe("step_up_required");
    expect(a.postedMinor("mandate-1")).toBe(0);
    expect(a.service.listReviews({ kind: "step_up", status: "pending" })).toHaveLength(2);
  });

  it("holds a payment above the mandate's step-up threshold", async () => {
    await a.registerMandate({ mandateId: "mandate-2", stepUpAboveMinor: 1_000 });

    const small = await a.fromAgent(a.agent.payment("mandate-2", 1_000).bytes);
    const large = await a.fromAgent(a.agent.payment("mandate-2", 1_001).bytes);

    expect(small.status).toBe("approved");
    expect(large.status).toBe("step_up_required");
  });

  it("declines over budget one payment at a time, never going a minor unit over", async () => {
    const amounts = [2_000, 2_000, 2_000, 1_000, 1];
    const decisions = [];
    for (const amountMinor of amounts) decisions.push(await a.fromAgent(a.agent.payment("mandate-1", amountMinor).bytes));

    expect(decisions.map((d) => d.status)).toEqual(["approved", "approved", "declined", "approved", "declined"]);
    expect(decisions[2]!.code).toBe(ErrorCode.BudgetExceeded);
    expect(decisions[4]!.code).toBe(ErrorCode.BudgetExceeded);
    expect(a.postedMinor("mandate-1")).toBe(5_000);
    expect(a.service.findMandate("mandate-1")!.spentMinor).toBe(5_000);
  });

  it.each([
    { amountMinor: 700, batchMax: 256 },
    { amountMinor: 700, batchMax: 3 },
    { amountMinor: 1_000, batchMax: 1 },
    { amountMinor: 1_999, batchMax: 4 },
  ])("lets exactly floor(budget / amount) of 10 concurrent $amountMinor payments through (batchMax $batchMax)", async ({ amountMinor, batchMax }) => {
    await a.close();
    a = await AgentFixture.create({ service: { batchMax } });
    await a.registerMandate();
    const payments = Array.from({ length: 10 }, () => a.agent.payment("mandate-1", amountMinor));

    const decisions = await Promise.all(payments.map((p) => a.fromAgent(p.bytes)));

    const approved = decisions.filter((d) => d.status === "approved");
    expect(approved).toHaveLength(Math.floor(5_000 / amountMinor));
    expect(decisions.filter((d) => d.status === "declined").every((d) => d.code === ErrorCode.BudgetExceeded)).toBe(true);
    expect(a.postedMinor("mandate-1")).toBe(approved.length * amountMinor);
    expect(a.postedMinor("mandate-1")).toBeLessThanOrEqual(5_000);
    expect(a.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(approved.length * amountMinor);
    a.service.ledger.checkInvariants();
  });

  it("refuses a byte-identical copy of a closed mandate, and answers a re-signed retry with the first decision", async () => {
    const payment = a.agent.payment("mandate-1", 900);
    const first = await a.fromAgent(payment.bytes);

    const copy = await a.fromAgent(payment.bytes);
    const concurrentCopies = await Promise.all([a.fromAgent(payment.bytes), a.fromAgent(payment.bytes)]);
    const retry = await a.f.send("agent", "a1", a.agent.sign(payment.body));

    expect(first.status).toBe("approved");
    expect(copy).toMatchObject({ status: "declined", code: ErrorCode.MandateReplayed });
    expect(concurrentCopies.map((d) => d.code)).toEqual([ErrorCode.MandateReplayed, ErrorCode.MandateReplayed]);
    expect(a.f.open(retry[0]!.payload)).toEqual(first);
    expect(a.postedMinor("mandate-1")).toBe(900);
  });

  it("refuses a reused request id with another body", async () => {
    const payment = a.agent.payment("mandate-1", 900);
    await a.fromAgent(payment.bytes);

    const changed = await a.fromAgent(a.agent.sign({ ...payment.body, amountMinor: 90 }));

    expect(changed.code).toBe(ErrorCode.RequestIdReused);
    expect(a.postedMinor("mandate-1")).toBe(900);
  });

  it("refuses a closed mandate signed by a key the mandate does not name, and one for another agent's mandate", async () => {
    const wrongKey = a.agent.payment("mandate-1", 500);
    const stranger = AgentFixture.enrollAgent(a.f, "a2");

    const forged = await a.fromAgent(a.agent.sign(wrongKey.body, generateP256().privateKey));
    const borrowed = await a.fromAgent(stranger.payment("mandate-1", 500).bytes, stranger);

    expect(forged.code).toBe(ErrorCode.AgentKeyMismatch);
    expect(borrowed.code).toBe(ErrorCode.AgentKeyMismatch);
    expect(a.postedMinor("mandate-1")).toBe(0);
  });

  it("declines payments under an expired or a revoked mandate", async () => {
    await a.registerMandate({ mandateId: "mandate-short", expiresAt: a.f.clock.nowMs() + dayMs });
    a.f.clock.advance(dayMs);

    const expired = await a.fromAgent(a.agent.payment("mandate-short", 100).bytes);
    const revoked = await a.fromWallet(a.f.wallet, mandateRevoke(a.f.wallet, a.f.clock, "mandate-1"));
    const afterRevoke = await a.fromAgent(a.agent.payment("mandate-1", 100).bytes);

    expect(expired).toMatchObject({ status: "declined", code: ErrorCode.MandateExpired });
    expect(revoked.status).toBe("approved");
    expect(afterRevoke).toMatchObject({ status: "declined", code: ErrorCode.MandateRevoked });
    expect(a.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(0);
  });

  it("refuses an agent that is not enrolled and a payment naming an unknown mandate", async () => {
    const ghost = new TestAgent("ghost", generateP256(), a.f.clock, a.f.random);

    const unenrolled = await a.fromAgent(ghost.payment("mandate-1", 100).bytes, ghost);
    const unknownMandate = await a.fromAgent(a.agent.payment("mandate-9", 100).bytes);

    expect(unenrolled.code).toBe(ErrorCode.UnknownAgent);
    expect(unknownMandate.code).toBe(ErrorCode.UnknownMandate);
  });

  it("declines when the wallet cannot pay, without spending the budget", async () => {
    await a.close();
    a = await AgentFixture.create({ fundMinor: 1_000 });
    await a.registerMandate();

    const decision = await a.fromAgent(a.agent.payment("mandate-1", 1_500).bytes);

    expect(decision.code).toBe(ErrorCode.InsufficientFunds);
    expect(a.service.findMandate("mandate-1")!.spentMinor).toBe(0);
  });

  it("a mandate registered by one wallet cannot be revoked by another", async () => {
    const other = a.f.enrollWallet("w2", 0);
    const revoke = await a.fromWallet(other, mandateRevoke(other, a.f.clock, "mandate-1"));

    expect(revoke.code).toBe(ErrorCode.WalletMismatch);
    expect(a.service.findMandate("mandate-1")!.status).toBe("active");
  });
});
