import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import type { SettlementNode } from "../../broker/settlement-node.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import type { Decision } from "../../protocol/messages.ts";
import { PersonWallet } from "../../sdk/person-wallet.ts";
import { Agent, type AgentPurchase } from "../../sdk/agent.ts";
import { codeText, money, type Narrator, type SceneResult } from "./narrator.ts";

export interface AgentScenesInput {
  node: SettlementNode;
  wallet: EnrolmentBundle;
  agent: EnrolmentBundle;
  merchantId: string;
  narrator: Narrator;
}

const pushedWaitMs = 5_000;

/**
 * AI Pay: the person signs an open mandate for their agent on their phone; the agent pays within it with no
 * person present; a payment above the step-up threshold waits for the person's signed approval; an unclear
 * one goes to an operator; the budget holds; a byte-identical closed mandate is refused.
 */
export async function runAgentScenes(input: AgentScenesInput): Promise<void> {
  const { narrator, node } = input;
  narrator.heading("Agent payments: an AI agent pays within limits the person signed; a human has the final say");
  const phone = new PersonWallet(input.wallet, node.url);
  const agent = new Agent({ bundle: input.agent, url: node.url });
  await phone.start();
  await agent.start();
  try {
    const nowMs = Date.now();
    const granted = await phone.grant(agent.agentId, agent.publicKey, {
      mandateId: "groceries-november",
      perPaymentMaxMinor: 1_500,
      budgetMinor: 3_000,
      currency: "EUR",
      allowedMerchants: [input.merchantId],
      stepUpAboveMinor: 1_000,
      notBefore: nowMs,
      expiresAt: nowMs + 7 * 24 * 3600 * 1000,
    });
    narrator.step(`alice signs an open mandate on her phone for agent ${agent.agentId}: budget ${money(3_000, "EUR")}, at most ${money(1_500, "EUR")} a payment, step-up above ${money(1_000, "EUR")}, only at ${input.merchantId} → ${granted.status}`);
    const purchase = (amountMinor: number, summary: string, context?: Record<string, string>): AgentPurchase => ({
      mandateId: "groceries-november",
      merchantId: input.merchantId,
      category: "groceries",
      amountMinor,
      currency: "EUR",
      cart: { summary },
      ...(context ? { context } : {}),
    });

    const beans = agent.close(purchase(800, "1 kg coffee beans"));
    await scene(narrator, "agent buys coffee beans within the mandate", money(800, "EUR"), await agent.send(beans), { status: "approved", code: 0 });
    await scene(narrator, "the same closed mandate sent again, byte for byte", money(800, "EUR"), await agent.send(beans), { status: "declined", code: ErrorCode.MandateReplayed });

    const held = await agent.send(agent.close(purchase(1_200, "cheese platter")));
    await scene(narrator, "agent buys above the step-up threshold", money(1_200, "EUR"), held, { status: "step_up_required", code: ErrorCode.HeldForStepUp });
    const answered = await phone.answerStepUp(held.caseId!, "approve");
    narrator.step(`   alice approves case ${held.caseId} on her phone (signed) → ${answered.status}`);
    await scene(narrator, "held payment after alice's approval", money(1_200, "EUR"), await agent.nextPushed(pushedWaitMs), { status: "approved", code: 0 });

    const unclear = await agent.send(agent.close(purchase(500, "\"the usual\"", { utterance: "get me the usual", ambiguous: "true" })));
    await scene(narrator, "agent order flagged ambiguous", money(500, "EUR"), unclear, { status: "human_review", code: ErrorCode.HeldForReview });
    const review = node.service.findReview(unclear.caseId!);
    narrator.step(`   operator queue: case ${unclear.caseId} (${review?.kind ?? "?"}) — operator declines`);
    node.service.decideReview(unclear.caseId!, "decline", "operator-1");
    await scene(narrator, "ambiguous order after the operator's decision", money(500, "EUR"), await agent.nextPushed(pushedWaitMs), { status: "declined", code: ErrorCode.ReviewDeclined });

    await scene(narrator, "agent tries to spend past the budget", money(1_100, "EUR"), await agent.send(agent.close(purchase(1_100, "wine"))), { status: "declined", code: ErrorCode.BudgetExceeded });
    const mandate = node.service.findMandate("groceries-november");
    narrator.step(`   mandate spent ${money(mandate?.spentMinor ?? 0, "EUR")} of ${money(3_000, "EUR")}`);
  } finally {
    await agent.stop();
    await phone.stop();
  }
}

async function scene(narrator: Narrator, name: string, amount: string, decision: Decision, expected: SceneResult & { status: Decision["status"] }): Promise<void> {
  narrator.record(`${name} (${amount})`, expected, { status: decision.status, code: decision.code });
  if (decision.code !== 0) narrator.step(`   ${decision.reason}${codeText(decision.code)}`);
}
