import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { amountMinorMax, isCurrency } from "../../protocol/money.ts";
import type { Account, AccountKind, InvariantReport, TransferInput } from "./ledger.ts";

/**
 * What every ledger engine (SQLite, PostgreSQL) checks the same way: a transfer's input before any row is
 * touched, and the queries that prove the books. The invariant queries are plain SQL both engines run as they are.
 */

const textMax = 200;

/** An account as both engines store it. */
export interface AccountRow {
  account_id: string;
  kind: AccountKind;
  currency: string;
  balance_minor: number;
  created_at_ms: number;
}

export const toAccount = (r: AccountRow): Account => ({
  accountId: r.account_id,
  kind: r.kind,
  currency: r.currency,
  balanceMinor: r.balance_minor,
  createdAtMs: r.created_at_ms,
});

export function assertCurrency(currency: string): void {
  if (!isCurrency(currency)) throw new TapwireError(`unknown currency ${JSON.stringify(currency)}`, ErrorCode.UnknownCurrency);
}

export function validateTransfer(input: TransferInput): void {
  assertCurrency(input.currency);
  if (!Number.isSafeInteger(input.amountMinor)) {
    throw new TapwireError(`amount must be an integer of minor units, got ${String(input.amountMinor)}`, ErrorCode.InvalidMoney);
  }
  if (input.amountMinor <= 0) {
    throw new TapwireError(`transfer amount ${input.amountMinor} is not positive`, ErrorCode.AmountNotPositive, {
      amountMinor: input.amountMinor,
    });
  }
  if (input.amountMinor > amountMinorMax) {
    throw new TapwireError(`transfer amount ${input.amountMinor} above ${amountMinorMax}`, ErrorCode.InvalidMoney);
  }
  if (input.debitAccountId === input.creditAccountId) {
    throw new TapwireError(`transfer debits and credits the same account ${input.debitAccountId}`, ErrorCode.LedgerUnbalanced);
  }
  assert(input.kind.length > 0 && input.kind.length <= textMax, "transfer kind must be 1-200 characters");
  assert(input.reference.length > 0 && input.reference.length <= textMax, "transfer reference must be 1-200 characters");
}

/** The account's currency must be the transfer's. */
export function assertSameCurrency(account: { accountId: string; currency: string }, currency: string): void {
  if (account.currency !== currency) {
    throw new TapwireError(`${account.accountId} holds ${account.currency}, transfer is in ${currency}`, ErrorCode.CurrencyMismatch, {
      accountId: account.accountId,
      currency,
    });
  }
}

export function insufficientFunds(accountId: string, balanceMinor: number, amountMinor: number): TapwireError {
  return new TapwireError(`${accountId} holds ${balanceMinor}, needs ${amountMinor} minor units`, ErrorCode.InsufficientFunds, {
    accountId,
    balanceMinor,
    amountMinor,
  });
}

/** Each query returns at most one row: the first violation of its rule, with the columns its message names. */
export const invariantQueries = {
  balanceSums: "SELECT currency, SUM(balance_minor) AS total FROM ledger_accounts GROUP BY currency ORDER BY currency",
  drifted: `SELECT a.account_id, a.balance_minor, COALESCE(SUM(p.amount_minor), 0) AS posted
    FROM ledger_accounts a LEFT JOIN ledger_postings p ON p.account_id = a.account_id
    GROUP BY a.account_id, a.balance_minor HAVING a.balance_minor <> COALESCE(SUM(p.amount_minor), 0) LIMIT 1`,
  lopsided: `SELECT t.transfer_id FROM ledger_transfers t LEFT JOIN ledger_postings p ON p.transfer_id = t.transfer_id
    GROUP BY t.transfer_id, t.amount_minor
    HAVING COUNT(p.account_id) <> 2 OR SUM(p.amount_minor) <> 0 OR MIN(p.amount_minor) <> -t.amount_minor
    LIMIT 1`,
  crossCurrency: `SELECT p.transfer_id, p.account_id FROM ledger_postings p
    JOIN ledger_transfers t ON t.transfer_id = p.transfer_id
    JOIN ledger_accounts a ON a.account_id = p.account_id
    WHERE a.currency <> t.currency LIMIT 1`,
  overdrawn: "SELECT account_id FROM ledger_accounts WHERE kind <> 'funding' AND balance_minor < 0 LIMIT 1",
  accounts: "SELECT COUNT(*) AS count FROM ledger_accounts",
  transfers: "SELECT COUNT(*) AS count FROM ledger_transfers",
} as const;

export type InvariantRows = Record<keyof typeof invariantQueries, ReadonlyArray<Record<string, unknown>>>;

/** Proves the books from what each invariant query returned (every engine runs them its own way); throws the first violation. */
export function proveBooks(rows: InvariantRows): InvariantReport {
  const balanceSumMinorByCurrency: Record<string, number> = {};
  for (const row of rows.balanceSums) {
    const total = Number(row["total"]);
    balanceSumMinorByCurrency[String(row["currency"])] = total;
    if (total !== 0) violated(`balances in ${String(row["currency"])} sum to ${total}, not 0`, row);
  }
  const [drifted] = rows.drifted;
  if (drifted) violated(`${String(drifted["account_id"])} balance ${String(drifted["balance_minor"])} != postings ${String(drifted["posted"])}`, drifted);
  const [lopsided] = rows.lopsided;
  if (lopsided) violated(`transfer ${String(lopsided["transfer_id"])} does not have two postings that cancel`, lopsided);
  const [crossCurrency] = rows.crossCurrency;
  if (crossCurrency) violated(`transfer ${String(crossCurrency["transfer_id"])} posts to ${String(crossCurrency["account_id"])} in another currency`, crossCurrency);
  const [overdrawn] = rows.overdrawn;
  if (overdrawn) violated(`${String(overdrawn["account_id"])} is below zero`, overdrawn);
  return { accounts: Number(rows.accounts[0]?.["count"] ?? 0), transfers: Number(rows.transfers[0]?.["count"] ?? 0), balanceSumMinorByCurrency };
}

function violated(message: string, context: Record<string, unknown>): never {
  throw new TapwireError(`ledger invariant broken: ${message}`, ErrorCode.LedgerUnbalanced, { ...context });
}
