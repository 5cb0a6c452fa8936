import { fundingAccountId } from "../ledger/ledger.ts";

/**
 * Where fees and payouts go: the currency's funding account, the ledger's boundary with the banks. A payout leaves
 * the ledger (the bank credit transfer of the pain.001 file pays it outside), as fee revenue does towards the
 * operator's own bank account, so both are credited to where money entered. The ledger's account kinds are fixed
 * by its schema (funding, wallet, merchant, campaign); revenue and in-flight payout accounts of their own would
 * need a new kind there, and these two functions are the one place to change then. Transfer kinds (clearing_fee,
 * payout) and the clearing tables tell fees and payouts apart.
 */
export function feeRevenueAccountId(currency: string): string {
  return fundingAccountId(currency);
}

/** See feeRevenueAccountId. */
export function payoutAccountId(currency: string): string {
  return fundingAccountId(currency);
}
