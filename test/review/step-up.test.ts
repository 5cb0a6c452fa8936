import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import type { AgentPayment } from "../../protocol/mandates.ts";
import { signBiometricAssertion } from "../../protocol/glasses.ts";
import { generateP256, publicKeyPem, type KeyPair } from "../../protocol/keys.ts";
import { protocolVersion, type HubStepUpApproval } from "../../protocol/messages.ts";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import { GlassesPayerVerifier, enrollGlasses, glassesSchema } from "../../broker/settlement/glasses-payer-verifier.ts";
import { requestLifetimeMsDefault } from "../settlement/fixtures.ts";
import { AgentFixture, stepUpAnswer } from "../agents/fixtures.ts";

let a: AgentFixture;
afterEach(async () => {
  await a.close();
});

describe("step-up of an agent payment, answered from the wallet", () => {
  let caseId: string;
  let requestId: string;
  let heldBody: AgentPayment;
  beforeEach(async () => {
    a = await AgentFixture.create({ service: { review: { stepUpTtlMs: 120_000 } } });
    await a.registerMandate();
    const held = a.agent.payment("mandate-1", 2_500);
    requestId = held.body.requestId;
    heldBody = held.body;
    const decision = await a.fromAgent(held.bytes);
    expect(decision.status).toBe("step_up_required");
    caseId = decision.caseId!;
  });

  it("posts the held payment once when the person approves, and tells the agent", async () => {
    const outbound = await a.f.send("wallet", "w1", stepUpAnswer(a.f.wallet, a.f.clock, caseId, "approve"));

    const toWallet = a.only(outbound, "wallet", "w1");
    const toAgent = a.only(outbound, "agent", "a1");
    expect(toWallet).toMatchObject({ status: "approved", caseId });
    expect(toAgent).toMatchObject({ status: "approved", requestId, caseId, requestType: "agent_payment" });
    expect(toAgent.receipt).toMatchObject({ paymentId: "agentpay-1", amountMinor: 2_500 });
    expect(a.postedMinor("mandate-1")).toBe(2_500);
    expect(a.service.findReview(caseId)).toMatchObject({ status: "approved", decidedBy: "wallets/w1" });
  });

  it("refuses a second approval, and keeps the first answer for a retried one", async () => {
    const answer = stepUpAnswer(a.f.wallet, a.f.clock, caseId, "approve");
    await a.fromWallet(a.f.wallet, answer);

    const retried = await a.f.send("wallet", "w1", answer);
    const second = await a.fromWallet(a.f.wallet, stepUpAnswer(a.f.wallet, a.f.clock, caseId, "approve", "another-answer"));

    expect(a.decisionsTo(retried, "wallet", "w1")[0]!.status).toBe("approved");
    expect(second).toMatchObject({ status: "declined", code: ErrorCode.ReviewAlreadyDecided });
    expect(a.postedMinor("mandate-1")).toBe(2_500);
  });

  it("applies only one of two concurrent approvals", async () => {
    const answers = [0, 1, 2].map((n) => stepUpAnswer(a.f.wallet, a.f.clock, caseId, "approve", `answer-${n}`));

    const decisions = await Promise.all(answers.map((bytes) => a.fromWallet(a.f.wallet, bytes)));

    expect(decisions.filter((d) => d.status === "approved")).toHaveLength(1);
    expect(decisions.filter((d) => d.code === ErrorCode.ReviewAlreadyDecided)).toHaveLength(2);
    expect(a.postedMinor("mandate-1")).toBe(2_500);
  });

  it("posts nothing when the person denies", async () => {
    const outbound = await a.f.send("wallet", "w1", stepUpAnswer(a.f.wallet, a.f.clock, caseId, "deny"));

    expect(a.only(outbound, "agent", "a1")).toMatchObject({ status: "declined", code: ErrorCode.StepUpDenied, requestId, caseId });
    expect(a.postedMinor("mandate-1")).toBe(0);
    expect(a.service.ledger.balanceOf(walletAccountId("w1"))).toBe(10_000);
    expect(a.service.findReview(caseId)!.status).toBe("declined");
  });

  it("gives a retried held request the final decision once the case is decided", async () => {
    await a.fromWallet(a.f.wallet, stepUpAnswer(a.f.wallet, a.f.clock, caseId, "deny"));

    const retry = await a.fromAgent(a.agent.sign(heldBody));

    expect(retry).toMatchObject({ status: "declined", code: ErrorCode.StepUpDenied, requestId, caseId });
  });

  it("refuses an answer from another wallet", async () => {
    const other = a.f.enrollWallet("w2", 0);

    const answer = await a.fromWallet(other, stepUpAnswer(other, a.f.clock, caseId, "approve"));

    expect(answer.code).toBe(ErrorCode.WalletMismatch);
    expect(a.service.findReview(caseId)!.status).toBe("pending");
  });

  it("expires an unanswered case, tells the agent, and refuses a late answer", async () => {
    const pushed: number[] = [];
    a.service.onPush((outbound) => pushed.push(a.f.open(outbound.payload).code));
    a.f.clock.advance(120_000);

    const expired = a.service.sweepReviews();
    const late = await a.fromWallet(a.f.wallet, stepUpAnswer(a.f.wallet, a.f.clock, caseId, "approve"));

    expect(expired).toBe(1);
    expect(pushed).toEqual([ErrorCode.ReviewExpired]);
    expect(late.code).toBe(ErrorCode.ReviewAlreadyDecided);
    expect(a.postedMinor("mandate-1")).toBe(0);
  });

  it("declines an approved step-up that no longer fits the budget", async () => {
    for (const amountMinor of [2_000, 2_000]) expect((await a.fromAgent(a.agent.payment("mandate-1", amountMinor).bytes)).status).toBe("approved");

    const outbound = await a.f.send("wallet", "w1", stepUpAnswer(a.f.wallet, a.f.clock, caseId, "approve"));

    expect(a.only(outbound, "agent", "a1")).toMatchObject({ status: "declined", code: ErrorCode.BudgetExceeded });
    expect(a.postedMinor("mandate-1")).toBe(4_000);
  });
});

describe("step-up at a glasses hub, answered with a fresh biometric assertion", () => {
  let glasses: KeyPair;
  let seq = 1_000;
  let challengeCount = 0;

  beforeEach(async () => {
    a = await AgentFixture.create({
      service: { payerVerifiers: [new GlassesPayerVerifier()], schemaComponents: [glassesSchema], review: { hubStepUpAboveMinor: 3_000 } },
    });
    glasses = generateP256();
    enrollGlasses(a.service.database, a.service.registry, { glassesId: "g1", walletId: "w1", publicKeyPem: publicKeyPem(glasses.publicKey), ownerId: "alice" }, a.f.clock.nowMs());
  });

  function assertion(overrides: { userVerified?: boolean; liveness?: boolean } = {}): Uint8Array<ArrayBuffer> {
    challengeCount += 1;
    const challenge = new Uint8Array(32).fill(challengeCount);
    return new Uint8Array(
      signBiometricAssertion(
        { type: "biometric_assertion", v: protocolVersion, glassesId: "g1", ownerId: "alice", method: "voiceprint", userVerified: true, liveness: true, challenge, iat: a.f.clock.nowMs(), ...overrides },
        glasses.privateKey,
        glasses.publicKey,
      ),
    );
  }

  /** Hub requests here take their seq from one counter, shared with the hand-built approvals. */
  function glassesPayment(amountMinor: number) {
    seq += 1;
    return a.f.hub.paymentRequest(a.f.wallet, amountMinor, { seq, mode: "glasses", payer: { kind: "glasses", walletId: "w1", glassesId: "g1", assertion: assertion() } });
  }

  function approval(paymentRequestId: string, caseId: string | undefined, proof: Uint8Array<ArrayBuffer>, answer?: "approve" | "deny"): Buffer {
    seq += 1;
    const iat = a.f.clock.nowMs();
    const body: HubStepUpApproval = {
      type: "step_up_approval",
      v: protocolVersion,
      hubId: "h1",
      merchantId: "m1",
      requestId: `approval-${seq}`,
      seq,
      iat,
      exp: iat + requestLifetimeMsDefault,
      paymentRequestId,
      ...(caseId === undefined ? {} : { caseId }),
      ...(answer === undefined ? {} : { answer }),
      payer: { kind: "glasses", walletId: "w1", glassesId: "g1", assertion: proof },
    };
    return a.f.hub.seal(body);
  }

  it("approves a small glasses payment at once and holds a large one for step-up", async () => {
    const small = await a.f.decisionFor(a.f.hub, glassesPayment(3_000).bytes);
    const large = await a.f.decisionFor(a.f.hub, glassesPayment(3_001).bytes);

    expect(small.status).toBe("approved");
    expect(large).toMatchObject({ status: "step_up_required", caseId: expect.stringMatching(/^stepup-/) });
    expect(a.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(3_000);
  });

  it("posts the held payment once on a fresh assertion, and refuses a second approval", async () => {
    const payment = glassesPayment(4_000);
    const held = await a.f.decisionFor(a.f.hub, payment.bytes);

    const approved = await a.f.decisionFor(a.f.hub, approval(payment.body.requestId, held.caseId, assertion()));
    const again = await a.f.decisionFor(a.f.hub, approval(payment.body.requestId, held.caseId, assertion()));
    const retriedPayment = await a.f.decisionFor(a.f.hub, payment.bytes);

    expect(approved).toMatchObject({ status: "approved", caseId: held.caseId });
    expect(approved.receipt?.amountMinor).toBe(4_000);
    expect(again.code).toBe(ErrorCode.ReviewAlreadyDecided);
    expect(retriedPayment).toMatchObject({ status: "approved", caseId: held.caseId });
    expect(a.service.paymentsOf("m1").map((p) => p.amountMinor)).toEqual([4_000]);
  });

  it("finds the case from the payment id alone (no caseId), and refuses a failed or reused assertion", async () => {
    const payment = glassesPayment(4_000);
    await a.f.decisionFor(a.f.hub, payment.bytes);
    const reused = assertion();
    const first = await a.f.decisionFor(a.f.hub, approval(payment.body.requestId, undefined, reused, "deny"));
    const second = glassesPayment(5_000);
    expect((await a.f.decisionFor(a.f.hub, second.bytes)).status).toBe("step_up_required");

    const notLive = await a.f.decisionFor(a.f.hub, approval(second.body.requestId, undefined, assertion({ liveness: false })));
    const approvedOnce = await a.f.decisionFor(a.f.hub, approval(second.body.requestId, undefined, reused));
    const replayed = await a.f.decisionFor(a.f.hub, approval(second.body.requestId, undefined, reused));
    const third = glassesPayment(3_500);
    await a.f.decisionFor(a.f.hub, third.bytes);
    const reusedOnAnother = await a.f.decisionFor(a.f.hub, approval(third.body.requestId, undefined, reused));

    expect(first).toMatchObject({ status: "declined", code: ErrorCode.StepUpDenied });
    expect(notLive.code).toBe(ErrorCode.BiometricFailed);
    expect(approvedOnce.status).toBe("approved");
    expect(replayed.code).toBe(ErrorCode.ReviewAlreadyDecided);
    expect(reusedOnAnother.code).toBe(ErrorCode.NonceReplayed);
    expect(a.service.paymentsOf("m1").map((p) => p.amountMinor)).toEqual([5_000]);
  });

  it("refuses an approval for a payment the hub already reversed", async () => {
    const payment = glassesPayment(4_000);
    const held = await a.f.decisionFor(a.f.hub, payment.bytes);
    seq += 1;
    await a.f.decisionFor(a.f.hub, a.f.hub.reversal(payment.body.requestId, { seq, requestId: `rev-${seq}` }).bytes);

    const approved = await a.f.decisionFor(a.f.hub, approval(payment.body.requestId, held.caseId, assertion()));

    expect(approved.code).toBe(ErrorCode.Cancelled);
    expect(a.service.paymentsOf("m1")).toEqual([]);
  });
});
