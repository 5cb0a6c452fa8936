// AI Pay: the agent asks for an open mandate with a signed request, the person's phone shows it and signs it; the agent
// pays within it, exactly once; a payment above the step-up threshold is held until the person approves it on their
// phone. Uses only tapwire's public entry points.
import { Agent, PersonWallet } from "tapwire/agent";
import { ErrorCode } from "tapwire/protocol";
import { check, startStack } from "./stack.mjs";

const stack = await startStack();
const { node } = stack;
let phone;
let agent;
try {
  const walletBundle = await node.enrollWallet({ walletId: "alice", currency: "EUR", perPaymentMaxMinor: 50_000 });
  await node.registry.fundWallet("alice", 10_000);
  const agentBundle = await node.enrollAgent({ agentId: "alice-agent" });
  phone = new PersonWallet(walletBundle, node.url);
  agent = new Agent({ bundle: agentBundle, url: node.url });
  await phone.start();
  await agent.start();

  const nowMs = Date.now();
  const { text } = agent.requestMandate("Weekly groceries at m1", {
    mandateId: "groceries",
    perPaymentMaxMinor: 1_500,
    budgetMinor: 5_000,
    currency: "EUR",
    allowedMerchants: ["m1"],
    stepUpAboveMinor: 1_000,
    notBefore: nowMs,
    expiresAt: nowMs + 24 * 3600 * 1000,
  });
  // The text travels as a QR code or a link; the phone checks the agent's signature before showing anything.
  const shown = phone.review(text);
  check(shown.purpose === "Weekly groceries at m1", "alice's phone shows what the agent asks for, and why");
  const { decision, grant } = await phone.approve(shown, { ...shown.terms, budgetMinor: 3_000 });
  check(decision.status === "approved", "alice signed the mandate with a smaller budget, and the service took it");
  check(agent.acceptGrant(grant).budgetMinor === 3_000, "the agent knows the budget alice granted, checked against the service's key");

  const purchase = (amountMinor, summary) => ({ mandateId: "groceries", merchantId: "m1", category: "groceries", amountMinor, currency: "EUR", cart: { summary } });
  const beans = await agent.pay(purchase(800, "1 kg coffee beans"));
  check(beans.kind === "approved", "the agent paid 8.00 EUR within the mandate");

  const cheese = await agent.pay(purchase(1_200, "cheese platter"));
  check(cheese.kind === "held" && cheese.decision.code === ErrorCode.HeldForStepUp, "12.00 EUR is above the step-up threshold: held for alice");
  await phone.answerStepUp(cheese.caseId, "approve");
  const after = await agent.outcome(cheese, 10_000);
  check(after.kind === "approved", "alice approved on her phone: the held payment is paid");
  check((await node.service.ledger.balanceOf("wallet:alice")) === 10_000 - 2_000, "alice paid 20.00 EUR in all, each payment once");
} finally {
  await agent?.stop();
  await phone?.stop();
  await stack.stop();
}
