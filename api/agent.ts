/**
 * `tapwire/agent`: an AI agent paying within the limits a person set (AP2/ACP's shape). The agent asks the person
 * for an open mandate with a signed request ({@link Agent.requestMandate}) that the person's wallet shows
 * ({@link PersonWallet.review}) and signs, as asked or tightened ({@link PersonWallet.approve}); the agent checks
 * the grant ({@link Agent.acceptGrant}) and closes the mandate into one signed payment per purchase
 * ({@link Agent.pay}, exactly once across retries); a payment above the person's step-up threshold or flagged for
 * review comes back `held` until the person ({@link PersonWallet.answerStepUp}) or an operator answers
 * ({@link Agent.outcome}).
 * @packageDocumentation
 */
export { Agent, agentPaymentResult, type AgentOptions, type AgentPaymentResult, type AgentPurchase } from "../sdk/agent.ts";
export { PersonWallet, type MandateTerms } from "../sdk/person-wallet.ts";
export { mandateRequestPrefix, type MandateGrant, type MandateRequest } from "../protocol/mandate-request.ts";
export type { EnrolmentBundle } from "../broker/enrolment.ts";
