/**
 * `tapwire/protocol`: the contract hubs, wallets, agents and the service share: error codes, money, keys,
 * COSE_Sign1 messages (RFC 9052, ES256), the lifetimes both sides agree on, and payment codes.
 * @packageDocumentation
 */
export { contract, type OfflineLimits } from "../protocol/contract.ts";
export { ErrorCode, TapwireError, errorCodeName, isTapwireError } from "../protocol/errors.ts";
export { formatMoney, isCurrency, type Money } from "../protocol/money.ts";
export { generateP256, importPrivatePem, importPublicPem, privateKeyPem, publicKeyPem, type KeyPair } from "../protocol/keys.ts";
export { openSealed, sealMessage, type OpenedMessage } from "../protocol/envelope.ts";
export type { Decision, DecisionStatus } from "../protocol/messages.ts";
export type { AgentPayment, Cart, OpenMandate } from "../protocol/mandates.ts";
export type { StepUpAnswer } from "../protocol/review.ts";
export { issuePaymentCode, readPaymentCode, verifyPaymentCode, type PaymentCodeClaim } from "../protocol/payment-code.ts";
