import { afterEach, describe, expect, it } from "vitest";
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { agentKeyDer, sealAgentPayment, sealOpenMandate, type AgentPayment } from "../../protocol/mandates.ts";
import type { Decision } from "../../protocol/messages.ts";
import type { WalletStepUpApproval } from "../../protocol/review.ts";
import type { DecisionReply } from "../../firmware-bridge/mqtt/hub-link.ts";
import { TestStack } from "../e2e/stack.ts";

const waitMs = 5_000;

/** Decisions the agent receives outside any request of its own (step-up and review outcomes), in order. */
class Pushed {
  private readonly arrived: Decision[] = [];
  private waiter: ((decision: Decision) => void) | undefined;

  readonly listener = (reply: DecisionReply) => {
    if (this.waiter) {
      const wake = this.waiter;
      this.waiter = undefined;
      wake(reply.decision);
    } else this.arrived.push(reply.decision);
  };

  next(): Promise<Decision> {
    const ready = this.arrived.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no pushed decision")), waitMs);
      this.waiter = (decision) => {
        clearTimeout(timer);
        resolve(decision);
      };
    });
  }
}

describe("an agent paying over MQTT through the embedded broker", () => {
  let stack: TestStack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it("pays within its mandate, waits for the person's step-up and the operator's review, and cannot replay", async () => {
    stack = await TestStack.start();
    const { wallet } = await stack.enrolDefaults(20_000);
    const agentBundle = await stack.node.enrollAgent({ agentId: "a1" });
    const walletKey = createPrivateKey(wallet.keyPem!);
    const agentKey = createPrivateKey(agentBundle.keyPem!);
    const walletLink = await stack.connect(wallet);
    const pushed = new Pushed();
    const agentLink = await stack.connect(agentBundle, { onUnmatchedDecision: pushed.listener });
    const now = Date.now();
    const mandate = sealOpenMandate(
      {
        type: "open_mandate", v: 1, mandateId: "mandate-1", walletId: "w1", agentId: "a1", agentKey: agentKeyDer(createPublicKey(agentKey)),
        perPaymentMaxMinor: 2_000, budgetMinor: 6_000, currency: "EUR", allowedMerchants: ["m1"], notBefore: now, expiresAt: now + 86_400_000, iat: now,
      },
      walletKey,
      createPublicKey(walletKey),
    );
    let n = 0;
    const pay = (amountMinor: number, context?: Record<string, string>) => {
      n += 1;
      const iat = Date.now();
      const body: AgentPayment = {
        type: "agent_payment", v: 1, agentId: "a1", mandateId: "mandate-1", requestId: `a1-p${n}`, merchantId: "m1", category: "groceries",
        amountMinor, currency: "EUR", cart: { summary: "coffee beans" }, iat, exp: iat + 60_000, nonce: new Uint8Array(randomBytes(16)),
        ...(context ? { context } : {}),
      };
      return { requestId: body.requestId, bytes: sealAgentPayment(body, agentKey, createPublicKey(agentKey)) };
    };

    const registered = await walletLink.request(mandate, "mandate-1", waitMs);
    const within = pay(1_500);
    const approved = await agentLink.request(within.bytes, within.requestId, waitMs);
    const replayed = await agentLink.request(within.bytes, within.requestId, waitMs);

    const large = pay(2_500);
    const held = await agentLink.request(large.bytes, large.requestId, waitMs);
    const iat = Date.now();
    const answer: WalletStepUpApproval = { type: "step_up_approval", v: 1, walletId: "w1", requestId: "answer-1", caseId: held.decision.caseId!, answer: "approve", iat, exp: iat + 60_000 };
    const answered = await walletLink.request(sealMessage(answer, walletKey), "answer-1", waitMs);
    const stepUpOutcome = await pushed.next();

    const unclear = pay(1_000, { utterance: "the usual", ambiguous: "true" });
    const queued = await agentLink.request(unclear.bytes, unclear.requestId, waitMs);
    stack.node.service.decideReview(queued.decision.caseId!, "approve", "alice");
    const reviewOutcome = await pushed.next();

    const over = pay(1_500);
    const overBudget = await agentLink.request(over.bytes, over.requestId, waitMs);

    expect(registered.decision.status).toBe("approved");
    expect(approved.decision).toMatchObject({ status: "approved", receipt: { amountMinor: 1_500 } });
    expect(replayed.decision).toMatchObject({ status: "declined", code: ErrorCode.MandateReplayed });
    expect(held.decision.status).toBe("step_up_required");
    expect(answered.decision.status).toBe("approved");
    expect(stepUpOutcome).toMatchObject({ status: "approved", requestId: large.requestId, caseId: held.decision.caseId, receipt: { amountMinor: 2_500 } });
    expect(queued.decision.status).toBe("human_review");
    expect(reviewOutcome).toMatchObject({ status: "approved", requestId: unclear.requestId, receipt: { amountMinor: 1_000 } });
    expect(overBudget.decision).toMatchObject({ status: "declined", code: ErrorCode.BudgetExceeded });
    const service = stack.node.service;
    expect(service.findMandate("mandate-1")!.spentMinor).toBe(5_000);
    expect(service.ledger.balanceOf("merchant:m1")).toBe(5_000);
    service.ledger.checkInvariants();
    expect(service.verifyEvidence()).toMatchObject({ ok: true, receipts: 3, transfers: 3 });
  });
});
