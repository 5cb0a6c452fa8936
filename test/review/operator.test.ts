import { VirtualClock } from "../../core/sources.ts";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { Decision } from "../../protocol/messages.ts";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import { SettlementService } from "../../broker/settlement/settlement-service.ts";
import { AgentFixture, disputeOpen } from "../agents/fixtures.ts";

let a: AgentFixture;
afterEach(async () => {
  await a.close();
});

function codeOf(run: () => unknown): number {
  try {
    run();
    return 0;
  } catch (error) {
    return (error as TapwireError).code;
  }
}

async function ambiguousAgentPayment(): Promise<{ decision: Decision; requestId: string }> {
  const payment = a.agent.payment("mandate-1", 800, { context: { utterance: "get the usual", product: "Oat milk 1 l", ambiguous: "true" } });
  return { decision: await a.fromAgent(payment.bytes), requestId: payment.body.requestId };
}

describe("the operator review queue", () => {
  it("holds an ambiguous agent payment with its full context, and posts it once when an operator approves", async () => {
    a = await AgentFixture.create();
    await a.registerMandate();
    const pushed: Decision[] = [];
    a.service.onPush((outbound) => pushed.push(a.f.open(outbound.payload)));
    const { decision, requestId } = await ambiguousAgentPayment();

    const listed = a.service.listReviews({ status: "pending" });
    const pushes = a.service.decideReview(decision.caseId!, "approve", "alice");
    const again = codeOf(() => a.service.decideReview(decision.caseId!, "decline", "bob"));

    expect(decision).toMatchObject({ status: "human_review", caseId: expect.stringMatching(/^review-/) });
    expect(listed).toHaveLength(1);
    expect(listed[0]!.context).toMatchObject({ utterance: "get the usual", product: "Oat milk 1 l", agentId: "a1", riskSignals: expect.stringContaining("ambiguous") });
    expect(listed[0]!.context["mandate"]).toContain("mandate-1");
    expect(pushes.map((p) => [p.kind, p.id])).toEqual([["agent", "a1"]]);
    expect(pushed).toEqual([expect.objectContaining({ status: "approved", requestId, caseId: decision.caseId })]);
    expect(again).toBe(ErrorCode.ReviewAlreadyDecided);
    expect(a.postedMinor("mandate-1")).toBe(800);
    expect(a.service.findReview(decision.caseId!)).toMatchObject({ status: "approved", decidedBy: "operators/alice" });
  });

  it("declines and posts nothing when the operator declines", async () => {
    a = await AgentFixture.create();
    await a.registerMandate();
    const { decision } = await ambiguousAgentPayment();

    const [push] = a.service.decideReview(decision.caseId!, "decline", "alice");

    expect(a.f.open(push!.payload)).toMatchObject({ status: "declined", code: ErrorCode.ReviewDeclined });
    expect(a.postedMinor("mandate-1")).toBe(0);
  });

  it("applies exactly one of many concurrent operator decisions, also from a second process on the same file", async () => {
    a = await AgentFixture.create();
    await a.registerMandate();
    const { decision } = await ambiguousAgentPayment();
    const second = new SettlementService({ databasePath: a.f.databasePath, serviceKey: a.f.serviceKeys.privateKey, clock: a.f.clock });
    await second.start();

    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, async (_, n) => (n % 2 === 0 ? a.service : second).decideReview(decision.caseId!, n % 3 === 0 ? "approve" : "decline", `op${n}`)),
    );
    await second.stop();

    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === "rejected").map((o) => ((o as PromiseRejectedResult).reason as TapwireError).code)).toEqual(
      Array(5).fill(ErrorCode.ReviewAlreadyDecided),
    );
    const decided = a.service.findReview(decision.caseId!)!;
    expect(a.postedMinor("mandate-1")).toBe(decided.status === "approved" ? 800 : 0);
    a.service.ledger.checkInvariants();
  });

  it("publishes through the running service a decision another process (the review CLI) made", async () => {
    // Timers nobody advances: the sweep runs only when the test calls it, however long the steps before take.
    a = await AgentFixture.create({ service: { timers: new VirtualClock() } });
    await a.registerMandate();
    const pushed: Decision[] = [];
    a.service.onPush((outbound) => pushed.push(a.f.open(outbound.payload)));
    const { decision, requestId } = await ambiguousAgentPayment();
    const cli = new SettlementService({ databasePath: a.f.databasePath, serviceKey: a.f.serviceKeys.privateKey, clock: a.f.clock });
    await cli.start();

    cli.decideReview(decision.caseId!, "approve", "alice");
    await cli.stop();
    const beforeSweep = pushed.length;
    a.service.sweepReviews();
    a.service.sweepReviews();

    expect(beforeSweep).toBe(0);
    expect(pushed).toEqual([expect.objectContaining({ status: "approved", requestId })]);
  });

  it("queues a hub payment flagged ambiguous and amounts above the review threshold; an operator cannot answer a step-up", async () => {
    a = await AgentFixture.create({ service: { review: { humanReviewAboveMinor: 4_000 } } });
    await a.registerMandate({ perPaymentMaxMinor: 5_000, budgetMinor: 9_000 });
    const flagged = await a.f.decisionFor(a.f.hub, a.f.hub.paymentRequest(a.f.wallet, 300, { context: { utterance: "uh, that one?", ambiguous: "true" } }).bytes);
    const large = await a.f.decisionFor(a.f.hub, a.f.hub.paymentRequest(a.f.wallet, 4_500).bytes);
    const stepUp = await a.fromAgent(a.agent.payment("mandate-1", 5_500).bytes);

    const [push] = a.service.decideReview(flagged.caseId!, "approve", "alice");
    const refused = codeOf(() => a.service.decideReview(stepUp.caseId!, "approve", "alice"));

    expect(flagged.status).toBe("human_review");
    expect(large.status).toBe("human_review");
    expect(stepUp.status).toBe("step_up_required");
    expect(push).toMatchObject({ kind: "hub", id: "h1" });
    expect(a.f.open(push!.payload)).toMatchObject({ status: "approved", requestId: flagged.requestId, receipt: { amountMinor: 300 } });
    expect(refused).toBe(ErrorCode.ApprovalInvalid);
    expect(a.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(300);
  });

  it("declines a review case nobody answered in time", async () => {
    a = await AgentFixture.create({ service: { review: { humanReviewTtlMs: 60_000 } } });
    await a.registerMandate();
    const { decision } = await ambiguousAgentPayment();
    a.f.clock.advance(60_000);

    expect(a.service.sweepReviews()).toBe(1);
    expect(codeOf(() => a.service.decideReview(decision.caseId!, "approve", "alice"))).toBe(ErrorCode.ReviewAlreadyDecided);
    expect(a.service.findReview(decision.caseId!)).toMatchObject({ status: "expired", outcomeCode: ErrorCode.ReviewExpired });
  });
});

describe("disputes", () => {
  it("opens a case only an operator closes; resolving for the payer refunds once", async () => {
    a = await AgentFixture.create();
    const paid = await a.f.decisionFor(a.f.hub, a.f.hub.paymentRequest(a.f.wallet, 1_500).bytes);
    const pushed: Decision[] = [];
    a.service.onPush((outbound) => pushed.push(a.f.open(outbound.payload)));

    const opened = await a.fromWallet(a.f.wallet, disputeOpen(a.f.wallet, a.f.clock, paid.receipt!.paymentId));
    const listed = a.service.listReviews({ kind: "dispute" });
    a.service.decideReview(opened.caseId!, "approve", "alice");
    const twice = codeOf(() => a.service.decideReview(opened.caseId!, "approve", "alice"));
    const reopened = await a.fromWallet(a.f.wallet, disputeOpen(a.f.wallet, a.f.clock, paid.receipt!.paymentId, "dispute-again"));

    expect(opened).toMatchObject({ status: "human_review", caseId: expect.stringMatching(/^dispute-/) });
    expect(listed[0]!.context).toMatchObject({ paymentId: paid.receipt!.paymentId, reason: "never delivered", hubId: "h1" });
    expect(pushed).toEqual([expect.objectContaining({ status: "approved", requestType: "dispute_open", receipt: expect.objectContaining({ amountMinor: 1_500 }) })]);
    expect(twice).toBe(ErrorCode.ReviewAlreadyDecided);
    expect(reopened.code).toBe(ErrorCode.AlreadyReversed);
    expect(a.service.ledger.balanceOf(walletAccountId("w1"))).toBe(10_000);
    expect(a.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(0);
    expect(a.service.findPayment("h1", paid.requestId)!.refundedMinor).toBe(1_500);
    a.service.ledger.checkInvariants();
  });

  it("moves nothing when the operator rejects a dispute of an agent payment, and refuses another wallet's dispute", async () => {
    a = await AgentFixture.create();
    await a.registerMandate();
    const paid = await a.fromAgent(a.agent.payment("mandate-1", 700).bytes);
    const stranger = a.f.enrollWallet("w2", 0);

    const foreign = await a.fromWallet(stranger, disputeOpen(stranger, a.f.clock, paid.receipt!.paymentId));
    const opened = await a.fromWallet(a.f.wallet, disputeOpen(a.f.wallet, a.f.clock, paid.receipt!.paymentId));
    const [push] = a.service.decideReview(opened.caseId!, "decline", "alice");

    expect(foreign.code).toBe(ErrorCode.WalletMismatch);
    expect(a.f.open(push!.payload)).toMatchObject({ status: "declined", code: ErrorCode.ReviewDeclined });
    expect(a.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(700);
  });

  it("refunds a disputed agent payment and the dispute case answers an unknown payment id with UnknownPayment", async () => {
    a = await AgentFixture.create();
    await a.registerMandate();
    const paid = await a.fromAgent(a.agent.payment("mandate-1", 700).bytes);

    const unknown = await a.fromWallet(a.f.wallet, disputeOpen(a.f.wallet, a.f.clock, "agentpay-99"));
    const opened = await a.fromWallet(a.f.wallet, disputeOpen(a.f.wallet, a.f.clock, paid.receipt!.paymentId));
    a.service.decideReview(opened.caseId!, "approve", "alice");

    expect(unknown.code).toBe(ErrorCode.UnknownPayment);
    expect(a.service.ledger.balanceOf(walletAccountId("w1"))).toBe(10_000);
    expect(a.service.agentPaymentsOf("mandate-1")[0]!.refundedMinor).toBe(700);
  });
});
