import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { SimTapHub } from "../world/sim-tap-hub.ts";
import type { SimGlassesHub } from "../world/sim-glasses-hub.ts";
import { runFault } from "./faults.ts";
import type { PaymentRecord, ScenarioRecords } from "./scenario-records.ts";
import type { ScenarioWorld } from "./scenario-world.ts";
import type { Step } from "./step-schema.ts";

/** The operator who decides review cases in a scenario. */
const operatorId = "scenario-operator";

export interface StepContext extends ScenarioWorld {
  records: ScenarioRecords;
}

export function tapHub(context: ScenarioWorld, hubId: string): SimTapHub {
  return context.world.hubs.find((hub) => hub.hubId === hubId)!;
}

export function glassesHub(context: ScenarioWorld, glassesId: string): SimGlassesHub {
  return context.world.glassesHubs.find((hub) => hub.glasses.glassesId === glassesId)!;
}

/**
 * Does one step to the world: a person's action or a fault. Resolves once the step is done (an agent's payment once
 * it is answered, which takes virtual time); a step that cannot be done (no biometric challenge to answer, a
 * payment with no held case to decide) rejects with the TapwireError saying why, which fails the scenario.
 */
export async function runStep(context: StepContext, step: Step): Promise<void> {
  const { world, records } = context;
  const { action } = step;
  switch (action.name) {
    case "sale": {
      const { hub, amount, mode } = action.spec;
      records.saleStarted(hub, step.id, mode);
      return tapHub(context, hub).setAmount(amount.amountMinor, amount.currency, mode);
    }
    case "tap":
      return tap(context, action.spec);
    case "scan": {
      const { hub, wallet, code, text } = action.spec;
      if (text !== undefined) return tapHub(context, hub).scan(text, "a code that is not a payment code");
      const phone = world.wallets.find((candidate) => candidate.walletId === wallet)!;
      return tapHub(context, hub).scan(phone.paymentCode(code), `${wallet} payment code (${code})`);
    }
    case "remove":
      return tapHub(context, action.spec.hub).removePhone();
    case "cancel":
      return tapHub(context, action.spec.hub).pressCancel();
    case "see": {
      const { glasses, product, name, amount } = action.spec;
      const hub = glassesHub(context, glasses);
      records.sighted(step.id, glasses);
      world.trace.record(glasses, `sees ${product} ${amount.amountMinor} ${amount.currency}`);
      return hub.glasses.seeProduct({ productId: product, merchantId: merchantOf(context, glasses), name, amountMinor: amount.amountMinor, currency: amount.currency });
    }
    case "say":
      world.trace.record(action.spec.glasses, `wearer says (${action.spec.lang}) "${action.spec.text}"`);
      return glassesHub(context, action.spec.glasses).glasses.say(action.spec.text, action.spec.lang, action.spec.confidence);
    case "biometric": {
      const { glasses, verified, liveness, method } = action.spec;
      world.trace.record(glasses, `biometric ${method} verified=${verified} live=${liveness}`);
      glassesHub(context, glasses).glasses.answerBiometric(undefined, { userVerified: verified, liveness, method });
      return;
    }
    case "agentPay":
      return agentPay(context, step.id, action.spec);
    case "agentResend":
      return agentResend(context, step.id, action.spec.payment);
    case "stepUp": {
      const payment = heldPayment(context, action.spec.payment, "step_up_required");
      const walletId = context.mandates.get(payment.mandateId)!.walletId;
      await world.wallets.find((wallet) => wallet.walletId === walletId)!.answerStepUp(payment.caseId, action.spec.answer);
      return;
    }
    case "review": {
      const payment = heldPayment(context, action.spec.payment, "human_review");
      world.trace.record("operator", `${action.spec.action} case ${payment.caseId}`);
      world.settlement.service.decideReview(payment.caseId, action.spec.action, operatorId);
      return;
    }
    case "fault":
      return runFault(context, action.spec);
    case "heal":
      return world.heal();
  }
}

function tap(context: StepContext, spec: Extract<Step["action"], { name: "tap" }>["spec"]): void {
  const hub = tapHub(context, spec.hub);
  const wallet = context.world.wallets.find((candidate) => candidate.walletId === spec.wallet)!;
  const phone = spec.phone ?? (context.records.sale({ hub: spec.hub })?.mode === "tag" ? "tag" : "hce");
  if (phone === "tag") return hub.placePhone(wallet.tagPhone, `${spec.wallet} tag`);
  if (phone === "clone") wallet.hce.replayNextCryptogram();
  hub.placePhone(wallet.hce, `${spec.wallet} ${phone === "clone" ? "hce replaying" : "hce"}`);
}

function merchantOf(context: ScenarioWorld, glassesId: string): string {
  return context.world.plan.glasses!.find((glasses) => glasses.glassesId === glassesId)!.merchantId;
}

async function agentPay(context: StepContext, ref: string | undefined, spec: Extract<Step["action"], { name: "agentPay" }>["spec"]): Promise<void> {
  const agent = context.world.agents.find((candidate) => candidate.agentId === spec.agent)!;
  const { terms } = context.mandates.get(spec.mandate)!;
  const signed = agent.sign(terms, spec.amount.amountMinor, {
    ...(spec.summary ? { summary: spec.summary } : {}),
    ...(spec.ambiguous ? { context: { ambiguous: "true" } } : {}),
  });
  const record: PaymentRecord = { agentId: spec.agent, mandateId: spec.mandate, signed, decision: undefined };
  if (ref !== undefined) context.records.paymentSigned(ref, record);
  context.world.trace.record(`agent ${spec.agent}`, `pays ${spec.amount.amountMinor} ${spec.amount.currency} under ${spec.mandate} as ${signed.requestId}`);
  const decision = await agent.send(signed);
  record.decision ??= decision;
}

async function agentResend(context: StepContext, ref: string | undefined, paymentRef: string): Promise<void> {
  const original = context.records.payment(paymentRef);
  if (original === undefined) throw new TapwireError(`payment ${paymentRef} has not been signed yet`, ErrorCode.UnknownPayment);
  const agent = context.world.agents.find((candidate) => candidate.agentId === original.agentId)!;
  const record: PaymentRecord = { ...original, decision: undefined };
  if (ref !== undefined) context.records.paymentSigned(ref, record);
  context.world.trace.record(`agent ${original.agentId}`, `sends ${original.signed.requestId} again, byte for byte`);
  const decision = await agent.send(original.signed);
  record.decision ??= decision;
}

function heldPayment(context: StepContext, ref: string, status: "step_up_required" | "human_review"): { mandateId: string; caseId: string } {
  const payment = context.records.payment(ref);
  const caseId = payment?.decision?.status === status ? payment.decision.caseId : undefined;
  if (payment === undefined || caseId === undefined) {
    throw new TapwireError(`payment ${ref} is not held for ${status} (its decision: ${payment?.decision?.status ?? "none yet"})`, ErrorCode.ReviewNotFound);
  }
  return { mandateId: payment.mandateId, caseId };
}
