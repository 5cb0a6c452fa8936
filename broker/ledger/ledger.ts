import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { isCurrency } from "../../protocol/money.ts";

/**
 * A double-entry ledger: every transfer debits one account and credits another by the same positive amount
 * in the same currency, so balances always sum to zero per currency. Balance = credits − debits.
 *
 * Accounts: `funding:<CUR>` (money entering the system; the only kind that may go negative),
 * `wallet:<id>`, `merchant:<id>` and `campaign:<id>` (a promotion's budget, funded from `funding:<CUR>` when the
 * campaign is defined and spent on its discounts), never below zero.
 *
 * More boundary accounts are of kind `funding`, as money crosses the edge of one currency's books through them:
 * `fx:<CUR>`, the FX position in that currency (a converted payment credits the payer's currency's position and
 * debits the merchant's), `provider:<id>`, what a wallet provider owes for its wallets' payments, and the clearing
 * run's `payout:<CUR>` (paid out to merchants by bank transfer) and `fees:<CUR>` (the operator's fee revenue).
 * Each currency still sums to zero on its own.
 */
export type AccountKind = "funding" | "wallet" | "merchant" | "campaign";

export interface Account {
  accountId: string;
  kind: AccountKind;
  currency: string;
  balanceMinor: number;
  createdAtMs: number;
}

export interface TransferInput {
  debitAccountId: string;
  creditAccountId: string;
  amountMinor: number;
  currency: string;
  /** What moved the money: "funding", "payment", "refund", "reversal"… */
  kind: string;
  /** The business record this transfer belongs to, for audits: `h1/req-42`. */
  reference: string;
}

export interface Transfer extends TransferInput {
  transferId: number;
  postedAtMs: number;
}

export interface InvariantReport {
  accounts: number;
  transfers: number;
  /** Sum of all balances per currency; checkInvariants only returns when every one is 0. */
  balanceSumMinorByCurrency: Record<string, number>;
}

export interface Ledger {
  /** Creates the account if missing; an existing one must have the same currency (CurrencyMismatch). */
  ensureAccount(accountId: string, currency: string): Account;
  /** undefined when the account does not exist. */
  findAccount(accountId: string): Account | undefined;
  /** Throws LedgerAccountMissing for an unknown account. */
  balanceOf(accountId: string): number;
  /**
   * Posts one balanced transfer atomically. Refuses a non-positive or non-integer amount (AmountNotPositive,
   * InvalidMoney), a debit and credit on the same account (LedgerUnbalanced), a currency that differs from
   * either account's (CurrencyMismatch), a missing account (LedgerAccountMissing) and a debit that would take
   * a non-funding account below zero (InsufficientFunds). Inside an open transaction it nests as a savepoint.
   */
  postTransfer(input: TransferInput): Transfer;
  /**
   * Posts 1..linkedTransfersMax transfers all or none, under one posting time: the legs of one business event
   * (a discounted payment: the customer's part and the campaign's part) that a receipt names together.
   * Each leg is checked as by postTransfer, in order, so a later leg sees an earlier one's balances.
   */
  postLinked(inputs: readonly TransferInput[]): Transfer[];
  /** Transfers touching the account (or all), newest first, at most `limit`. */
  transfers(filter: { accountId?: string; limit: number }): Transfer[];
  /** Transfers with an id above `afterTransferId`, oldest first, at most `limit`: pages for an export. */
  transfersAfter(afterTransferId: number, limit: number): Transfer[];
  /** undefined when there is no such transfer. */
  findTransfer(transferId: number): Transfer | undefined;
  /** Accounts by id, at most `limit`, with their balances. */
  accounts(limit: number): Account[];
  transferCount(): number;
  /**
   * Proves the books: balances sum to zero per currency, every account's balance equals the sum of its
   * postings, every transfer's two postings cancel, no non-funding account is negative. Throws
   * LedgerUnbalanced with the first violation.
   */
  checkInvariants(): InvariantReport;
}

export function fundingAccountId(currency: string): string {
  return `funding:${currency}`;
}

export function walletAccountId(walletId: string): string {
  return `wallet:${walletId}`;
}

export function merchantAccountId(merchantId: string): string {
  return `merchant:${merchantId}`;
}

export function campaignAccountId(campaignId: string): string {
  return `campaign:${campaignId}`;
}

/** The FX position in one currency: a boundary account of kind `funding`. */
export function fxAccountId(currency: string): string {
  return `fx:${currency}`;
}

/** What a wallet provider owes for its wallets' payments: a boundary account of kind `funding`. */
export function providerAccountId(providerId: string): string {
  return `provider:${providerId}`;
}

/** Merchants' payouts in one currency, on their way out of the ledger by bank transfer: a boundary account of kind `funding`. */
export function payoutAccountId(currency: string): string {
  return `payout:${currency}`;
}

/** The operator's fee revenue in one currency: a boundary account of kind `funding`. */
export function feeRevenueAccountId(currency: string): string {
  return `fees:${currency}`;
}

/** Boundary accounts named by the currency they hold (`funding:EUR`, `fx:EUR`, `payout:EUR`, `fees:EUR`). */
const currencyBoundaryKinds = new Set(["funding", "fx", "payout", "fees"]);

/** Whether a boundary account may hold `currency`: those named by a currency exactly that one; a provider's any one. */
export function boundaryHolds(accountId: string, currency: string): boolean {
  if (accountId.startsWith("provider:")) return true;
  const separator = accountId.indexOf(":");
  return currencyBoundaryKinds.has(accountId.slice(0, separator)) && accountId.slice(separator + 1) === currency;
}

/** Legs one postLinked call may carry. */
export const linkedTransfersMax = 8;

const ownedKinds: ReadonlySet<string> = new Set<AccountKind>(["wallet", "merchant", "campaign"]);

/** Splits an account id into its kind and owner; unknown shapes are LedgerAccountMissing. */
export function parseAccountId(accountId: string): { kind: AccountKind; ownerId: string } {
  const separator = accountId.indexOf(":");
  const kind = accountId.slice(0, separator);
  const ownerId = accountId.slice(separator + 1);
  const valid =
    separator > 0 &&
    ((currencyBoundaryKinds.has(kind) && isCurrency(ownerId)) || ((ownedKinds.has(kind) || kind === "provider") && isId(ownerId)));
  if (!valid) {
    throw new TapwireError(
      `account id ${JSON.stringify(accountId)} is not funding:<CUR>, fx:<CUR>, payout:<CUR>, fees:<CUR>, wallet:<id>, merchant:<id>, campaign:<id> or provider:<id>`,
      ErrorCode.LedgerAccountMissing,
      { accountId },
    );
  }
  return { kind: currencyBoundaryKinds.has(kind) || kind === "provider" ? "funding" : (kind as AccountKind), ownerId };
}

export function mayGoNegative(kind: AccountKind): boolean {
  return kind === "funding";
}
