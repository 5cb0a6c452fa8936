import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { Agent, type AgentPurchase } from "../../sdk/agent.ts";
import { PersonWallet } from "../../sdk/person-wallet.ts";
import { TestStack } from "../e2e/stack.ts";

const funded = 20_000;
const stepUpAboveMinor = 1_000;

let stack: TestStack | undefined;
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  stack?.node.service.ledger.checkInvariants();
  await stack?.stop();
  stack = undefined;
});

/** A stack with merchant m1 and wallet w1; the person's phone has granted agent a1 an open mandate. */
async function granted(agentOptions: { decisionTimeoutMs?: number } = {}): Promise<{ agent: Agent; phone: PersonWallet; stack: TestStack }> {
  stack = await TestStack.start();
  const { wallet } = await stack.enrolDefaults(funded);
  const phone = new PersonWallet(wallet, stack.node.url);
  const agent = new Agent({ bundle: await stack.node.enrollAgent({ agentId: "a1" }), url: stack.node.url, ...agentOptions });
  await phone.start();
  stops.push(() => phone.stop());
  await agent.start();
  stops.push(() => agent.stop());
  const nowMs = Date.now();
  const mandate = await phone.grant(agent.agentId, agent.publicKey, {
    mandateId: "groceries",
    perPaymentMaxMinor: 2_000,
    budgetMinor: 6_000,
    currency: "EUR",
    allowedMerchants: ["m1"],
    stepUpAboveMinor,
    notBefore: nowMs,
    expiresAt: nowMs + 86_400_000,
  });
  expect(mandate.status).toBe("approved");
  return { agent, phone, stack };
}

const purchase = (amountMinor: number): AgentPurchase => ({ mandateId: "groceries", merchantId: "m1", category: "groceries", amountMinor, currency: "EUR", cart: { summary: "groceries" } });

describe("the agent SDK (sdk/agent.ts, sdk/person-wallet.ts) against the real service", () => {
  it("pays within the mandate, and a held payment's outcome arrives once the person approves it", async () => {
    const { agent, phone, stack: current } = await granted();

    expect(await agent.pay(purchase(800))).toMatchObject({ kind: "approved" });
    const held = await agent.pay(purchase(1_200));
    expect(held).toMatchObject({ kind: "held", status: "step_up_required" });
    if (held.kind !== "held") return;
    await phone.answerStepUp(held.caseId!, "approve");

    expect(await agent.outcome(held, 5_000)).toMatchObject({ kind: "approved" });
    expect(current.node.service.ledger.balanceOf("wallet:w1")).toBe(funded - 2_000);
  });

  it("a retry signs the same body again and gets the first decision; the exact bytes again are a replay (duplicated, replayed)", async () => {
    const { agent, stack: current } = await granted();
    const first = agent.close(purchase(500));

    expect(await agent.send(first)).toMatchObject({ status: "approved" });
    expect(await agent.send(first)).toMatchObject({ status: "declined", code: ErrorCode.MandateReplayed });
    expect(current.node.service.ledger.balanceOf("wallet:w1")).toBe(funded - 500);
  });

  it("answers lost to a timeout are retried with the body re-signed: charged once, never three times (interrupted)", async () => {
    // A decision timeout far below a round trip, so every attempt times out while the service still decides the first.
    const { agent, stack: current } = await granted({ decisionTimeoutMs: 1 });

    const outcome = await agent.pay(purchase(700), { attempts: 3 }).catch((error: unknown) => error);

    // A later attempt may catch the first decision (the service answers the re-signed body with it); or all time out.
    const told = outcome instanceof TapwireError ? outcome.code : (outcome as { kind: string }).kind;
    expect([ErrorCode.DecisionTimeout, "approved"]).toContain(told);
    await expect.poll(() => current.node.service.ledger.balanceOf("wallet:w1"), { timeout: 5_000 }).toBe(funded - 700);
    expect(current.node.service.findMandate("groceries")?.spentMinor).toBe(700);
  });

  it("a mandate the person did not grant pays nothing: the service refuses it with its code (forged)", async () => {
    const { agent } = await granted();

    const result = await agent.pay({ ...purchase(300), mandateId: "not-granted" });

    expect(result).toMatchObject({ kind: "declined" });
    expect(result.kind === "declined" && result.code).not.toBe(0);
  });
});

describe("a mandate signing request (AP2): the agent asks, the person's wallet shows it and signs", () => {
  const asked = (nowMs: number) => ({
    mandateId: "travel",
    perPaymentMaxMinor: 3_000,
    budgetMinor: 9_000,
    currency: "EUR",
    allowedMerchants: ["m1"],
    notBefore: nowMs,
    expiresAt: nowMs + 86_400_000,
  });

  async function parties(): Promise<{ agent: Agent; phone: PersonWallet; stack: TestStack }> {
    stack = await TestStack.start();
    const { wallet } = await stack.enrolDefaults(funded);
    const phone = new PersonWallet(wallet, stack.node.url);
    const agent = new Agent({ bundle: await stack.node.enrollAgent({ agentId: "a1" }), url: stack.node.url });
    await phone.start();
    stops.push(() => phone.stop());
    await agent.start();
    stops.push(() => agent.stop());
    return { agent, phone, stack };
  }

  it("the person tightens the budget; the agent learns the granted terms and pays within them", async () => {
    const { agent, phone } = await parties();
    const { text } = agent.requestMandate("Book my train tickets this month", asked(Date.now()));
    expect(text.startsWith("TWM1:")).toBe(true);

    const shown = phone.review(text);
    expect(shown).toMatchObject({ agentId: "a1", purpose: "Book my train tickets this month", terms: { budgetMinor: 9_000 } });
    const { decision, grant } = await phone.approve(shown, { ...shown.terms, budgetMinor: 4_000 });
    expect(decision.status).toBe("approved");

    const mandate = agent.acceptGrant(grant);
    expect(mandate).toMatchObject({ mandateId: "travel", budgetMinor: 4_000, walletId: "w1" });
    const trip = { ...purchase(2_500), mandateId: "travel", category: "travel" };
    expect(await agent.pay(trip)).toMatchObject({ kind: "approved" });
    expect(await agent.pay(trip)).toMatchObject({ kind: "declined", code: ErrorCode.BudgetExceeded });
  });

  it("a forged, altered, expired or malformed request is refused before the person sees it (forged, malformed, replayed)", async () => {
    const { agent, phone } = await parties();
    const nowMs = Date.now();
    const { text } = agent.requestMandate("Groceries", asked(nowMs));
    // One Base45 character changed: the signature no longer covers what is shown.
    const altered = text.slice(0, 40) + (text[40] === "A" ? "B" : "A") + text.slice(41);
    expect(() => phone.review(altered)).toThrow(TapwireError);
    expect(() => phone.review("TWM1:%%%")).toThrow(TapwireError);
    expect(() => phone.review("https://example.test/not-a-request")).toThrow(expect.objectContaining({ code: ErrorCode.SchemaInvalid }));
    const old = agent.requestMandate("Groceries", asked(nowMs), 1).text;
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(() => phone.review(old)).toThrow(expect.objectContaining({ code: ErrorCode.MessageExpired }));
    expect(() => agent.requestMandate("Groceries", { ...asked(nowMs), perPaymentMaxMinor: 99_000 })).toThrow(expect.objectContaining({ code: ErrorCode.MandateInvalid }));
  });

  it("a grant for another agent, or with a decision not from the service, is refused by the agent", async () => {
    const { agent, phone, stack: current } = await parties();
    const other = new Agent({ bundle: await current.node.enrollAgent({ agentId: "a2" }), url: current.node.url });
    const { grant } = await phone.approve(phone.review(agent.requestMandate("Groceries", asked(Date.now())).text));

    expect(() => other.acceptGrant(grant)).toThrow(expect.objectContaining({ code: ErrorCode.MandateInvalid }));
    const forgedDecision = { ...grant, decision: grant.mandate };
    expect(() => agent.acceptGrant(forgedDecision)).toThrow(TapwireError);
    expect(agent.acceptGrant(grant).mandateId).toBe("travel");
  });
});
