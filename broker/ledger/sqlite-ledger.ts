import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { Clock } from "../../core/sources.ts";
import {
  linkedTransfersMax,
  boundaryHolds,
  mayGoNegative,
  parseAccountId,
  type Account,
  type InvariantReport,
  type Ledger,
  type Transfer,
  type TransferInput,
} from "./ledger.ts";
import { StatementCache } from "./sqlite-db.ts";
import { assertCurrency, assertSameCurrency, insufficientFunds, invariantQueries, proveBooks, toAccount, validateTransfer, type AccountRow, type InvariantRows } from "./ledger-rules.ts";
import type { SqlDb } from "../../core/sql-db.ts";

interface TransferRow {
  transfer_id: number;
  debit_account_id: string;
  credit_account_id: string;
  amount_minor: number;
  currency: string;
  kind: string;
  reference: string;
  posted_at_ms: number;
}

const transferColumns =
  "t.transfer_id, t.debit_account_id, t.credit_account_id, t.amount_minor, t.currency, t.kind, t.reference, t.posted_at_ms";

function toTransfer(row: TransferRow): Transfer {
  return {
    transferId: row.transfer_id,
    debitAccountId: row.debit_account_id,
    creditAccountId: row.credit_account_id,
    amountMinor: row.amount_minor,
    currency: row.currency,
    kind: row.kind,
    reference: row.reference,
    postedAtMs: row.posted_at_ms,
  };
}

/** Largest number of transfers one `transfers()` or `transfersAfter()` call returns. */
export const transfersListMax = 10_000;
/** Largest number of accounts one `accounts()` call returns. */
export const accountsListMax = 10_000;

export class SqliteLedger implements Ledger {
  private readonly statements: StatementCache;
  private readonly postAtomically: (input: TransferInput) => Transfer;
  private readonly postLinkedAtomically: (inputs: readonly TransferInput[]) => Transfer[];

  constructor(
    private readonly db: SqlDb,
    private readonly clock: Clock,
  ) {
    this.statements = new StatementCache(db);
    // better-sqlite3 turns a nested transaction into a savepoint, so a refused transfer inside a larger
    // settlement transaction undoes only its own writes.
    this.postAtomically = db.transaction((input: TransferInput) => this.post(input, this.clock.nowMs()));
    this.postLinkedAtomically = db.transaction((inputs: readonly TransferInput[]) => {
      const postedAtMs = this.clock.nowMs();
      return inputs.map((input) => this.post(input, postedAtMs));
    });
  }

  ensureAccount(accountId: string, currency: string): Account {
    const { kind } = parseAccountId(accountId);
    assertCurrency(currency);
    if (kind === "funding" && !boundaryHolds(accountId, currency)) {
      throw new TapwireError(`${accountId} cannot hold ${currency}`, ErrorCode.CurrencyMismatch, { accountId, currency });
    }
    const existing = this.findAccount(accountId);
    if (existing) {
      if (existing.currency !== currency) {
        throw new TapwireError(`${accountId} holds ${existing.currency}, not ${currency}`, ErrorCode.CurrencyMismatch, {
          accountId,
          currency,
        });
      }
      return existing;
    }
    this.statements
      .sql<[string, string, string, number]>(
        "INSERT INTO ledger_accounts (account_id, kind, currency, balance_minor, created_at_ms) VALUES (?, ?, ?, 0, ?)",
      )
      .run(accountId, kind, currency, this.clock.nowMs());
    const created = this.findAccount(accountId);
    assert(created, `account ${accountId} missing right after insert`);
    return created;
  }

  findAccount(accountId: string): Account | undefined {
    const row = this.statements
      .sql<[string], AccountRow>("SELECT account_id, kind, currency, balance_minor, created_at_ms FROM ledger_accounts WHERE account_id = ?")
      .get(accountId);
    return row ? toAccount(row) : undefined;
  }

  balanceOf(accountId: string): number {
    return this.requireAccount(accountId).balanceMinor;
  }

  postTransfer(input: TransferInput): Transfer {
    return this.postAtomically(input);
  }

  postLinked(inputs: readonly TransferInput[]): Transfer[] {
    assert(inputs.length > 0 && inputs.length <= linkedTransfersMax, `${inputs.length} linked transfers, 1-${linkedTransfersMax} allowed`);
    return this.postLinkedAtomically(inputs);
  }

  transfers(filter: { accountId?: string; limit: number }): Transfer[] {
    assert(Number.isSafeInteger(filter.limit) && filter.limit > 0 && filter.limit <= transfersListMax, `limit ${filter.limit}`);
    if (filter.accountId === undefined) {
      return this.statements
        .sql<[number], TransferRow>(`SELECT ${transferColumns} FROM ledger_transfers t ORDER BY t.transfer_id DESC LIMIT ?`)
        .all(filter.limit)
        .map(toTransfer);
    }
    return this.statements
      .sql<[string, number], TransferRow>(
        `SELECT ${transferColumns} FROM ledger_postings p JOIN ledger_transfers t ON t.transfer_id = p.transfer_id
         WHERE p.account_id = ? ORDER BY t.transfer_id DESC LIMIT ?`,
      )
      .all(filter.accountId, filter.limit)
      .map(toTransfer);
  }

  transfersAfter(afterTransferId: number, limit: number): Transfer[] {
    assert(Number.isSafeInteger(limit) && limit > 0 && limit <= transfersListMax, `limit ${limit}`);
    return this.statements
      .sql<[number, number], TransferRow>(`SELECT ${transferColumns} FROM ledger_transfers t WHERE t.transfer_id > ? ORDER BY t.transfer_id LIMIT ?`)
      .all(afterTransferId, limit)
      .map(toTransfer);
  }

  findTransfer(transferId: number): Transfer | undefined {
    const row = this.statements.sql<[number], TransferRow>(`SELECT ${transferColumns} FROM ledger_transfers t WHERE t.transfer_id = ?`).get(transferId);
    return row ? toTransfer(row) : undefined;
  }

  accounts(limit: number): Account[] {
    assert(Number.isSafeInteger(limit) && limit > 0 && limit <= accountsListMax, `limit ${limit}`);
    return this.statements
      .sql<[number], AccountRow>("SELECT account_id, kind, currency, balance_minor, created_at_ms FROM ledger_accounts ORDER BY account_id LIMIT ?")
      .all(limit)
      .map(toAccount);
  }

  transferCount(): number {
    return this.statements.sql<[], number>("SELECT COUNT(*) FROM ledger_transfers").pluck().get() ?? 0;
  }

  checkInvariants(): InvariantReport {
    const queries = Object.entries(invariantQueries).map(([name, sql]) => [name, this.statements.sql(sql).all()]);
    return proveBooks(Object.fromEntries(queries) as InvariantRows);
  }

  private post(input: TransferInput, postedAtMs: number): Transfer {
    validateTransfer(input);
    const debit = this.requireAccount(input.debitAccountId);
    const credit = this.requireAccount(input.creditAccountId);
    for (const account of [debit, credit]) assertSameCurrency(account, input.currency);
    if (!mayGoNegative(debit.kind) && debit.balanceMinor < input.amountMinor) {
      throw insufficientFunds(debit.accountId, debit.balanceMinor, input.amountMinor);
    }
    const transferId = this.statements
      .sql<[string, string, number, string, string, string, number], number>(
        `INSERT INTO ledger_transfers (debit_account_id, credit_account_id, amount_minor, currency, kind, reference, posted_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING transfer_id`,
      )
      .pluck()
      .get(input.debitAccountId, input.creditAccountId, input.amountMinor, input.currency, input.kind, input.reference, postedAtMs);
    assert(transferId !== undefined, "the insert returns its transfer id");
    this.addPosting(transferId, debit, -input.amountMinor);
    this.addPosting(transferId, credit, input.amountMinor);
    return { ...input, transferId, postedAtMs };
  }

  private addPosting(transferId: number, account: Account, amountMinor: number): void {
    const balanceMinor = account.balanceMinor + amountMinor;
    assert(Number.isSafeInteger(balanceMinor), `${account.accountId} balance would leave the safe integer range`);
    this.statements
      .sql<[number, string, number]>("INSERT INTO ledger_postings (transfer_id, account_id, amount_minor) VALUES (?, ?, ?)")
      .run(transferId, account.accountId, amountMinor);
    this.statements
      .sql<[number, string]>("UPDATE ledger_accounts SET balance_minor = ? WHERE account_id = ?")
      .run(balanceMinor, account.accountId);
  }

  private requireAccount(accountId: string): Account {
    const account = this.findAccount(accountId);
    if (!account) throw new TapwireError(`no ledger account ${accountId}`, ErrorCode.LedgerAccountMissing, { accountId });
    return account;
  }
}
