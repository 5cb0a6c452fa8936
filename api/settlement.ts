/**
 * `tapwire/settlement`: the settlement service with its embedded broker (aedes, mTLS) and SQLite ledger, in your
 * process: enrol merchants, hubs, wallets and agents, and read payments and balances.
 * @packageDocumentation
 */
export { SettlementNode, brokerPortDefault, type SettlementNodeOptions } from "../broker/settlement-node.ts";
export type { EnrolmentBundle } from "../broker/enrolment.ts";
