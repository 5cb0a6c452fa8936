/**
 * `tapwire/agent`: an AI agent paying within the limits a person set (AP2/ACP's shape). The person's wallet signs
 * an open mandate naming the agent's key ({@link PersonWallet.grant}); the agent closes it into one signed payment
 * per purchase ({@link Agent.pay}, exactly once across retries); a payment above the person's step-up threshold or
 * flagged for review comes back `held` until the person ({@link PersonWallet.answerStepUp}) or an operator answers
 * ({@link Agent.outcome}).
 * @packageDocumentation
 */
export { Agent, agentPaymentResult, type AgentOptions, type AgentPaymentResult, type AgentPurchase } from "../sdk/agent.ts";
export { PersonWallet, type MandateTerms } from "../sdk/person-wallet.ts";
export type { EnrolmentBundle } from "../broker/enrolment.ts";
