import type { PoolClient } from "pg";
import { assert } from "../../core/assert.ts";
import type { Clock } from "../../core/sources.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { boundaryHolds, linkedTransfersMax, parseAccountId, type Account, type Transfer, type TransferInput } from "../ledger/ledger.ts";
import { assertCurrency, assertSameCurrency, insufficientFunds, toAccount, validateTransfer, type AccountRow } from "../ledger/ledger-rules.ts";
import { acceptSeq, emptySeqWindow, type SeqWindow } from "../registry/seq-window.ts";
import { decisionColumns, toDecision, type DecisionRow, type StoredDecision } from "../settlement/decision-store.ts";
import type { DataTx } from "./data-store.ts";

/**
 * One leg in one statement: the debit only where the account exists, holds the currency and (unless it is a
 * funding account) covers the amount; the credit, the transfer and its two postings only if the debit happened.
 * No row back means a refusal: the caller rolls back to its savepoint and asks refusalOf why.
 */
const postLeg = `
  WITH debit AS (
    UPDATE ledger_accounts SET balance_minor = balance_minor - $3
    WHERE account_id = $1 AND currency = $4 AND (kind = 'funding' OR balance_minor >= $3) RETURNING account_id
  ), credit AS (
    UPDATE ledger_accounts SET balance_minor = balance_minor + $3
    WHERE account_id = $2 AND currency = $4 AND EXISTS (SELECT 1 FROM debit) RETURNING account_id
  ), transfer AS (
    INSERT INTO ledger_transfers (debit_account_id, credit_account_id, amount_minor, currency, kind, reference, posted_at_ms)
    SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM credit) RETURNING transfer_id
  ), postings AS (
    INSERT INTO ledger_postings (transfer_id, account_id, amount_minor)
    SELECT transfer_id, $1, -$3::bigint FROM transfer UNION ALL SELECT transfer_id, $2, $3 FROM transfer
  )
  SELECT transfer_id FROM transfer`;

/** One PostgreSQL transaction of the shared store (pg-data-store.ts opens, commits and retries it). */
export class PgTx implements DataTx {
  /** The hub windows this transaction holds locked, as last written. */
  private readonly windows = new Map<string, SeqWindow>();

  constructor(
    private readonly client: PoolClient,
    private readonly clock: Clock,
  ) {}

  async ensureAccount(accountId: string, currency: string): Promise<Account> {
    const { kind } = parseAccountId(accountId);
    assertCurrency(currency);
    if (kind === "funding" && !boundaryHolds(accountId, currency)) {
      throw new TapwireError(`${accountId} cannot hold ${currency}`, ErrorCode.CurrencyMismatch, { accountId, currency });
    }
    await this.client.query(
      "INSERT INTO ledger_accounts (account_id, kind, currency, balance_minor, created_at_ms) VALUES ($1, $2, $3, 0, $4) ON CONFLICT (account_id) DO NOTHING",
      [accountId, kind, currency, this.clock.nowMs()],
    );
    const account = await this.findAccount(accountId);
    assert(account, `account ${accountId} exists after its insert`);
    if (account.currency !== currency) {
      throw new TapwireError(`${accountId} holds ${account.currency}, not ${currency}`, ErrorCode.CurrencyMismatch, { accountId, currency });
    }
    return account;
  }

  async findAccount(accountId: string): Promise<Account | undefined> {
    const { rows } = await this.client.query<AccountRow>(
      "SELECT account_id, kind, currency, balance_minor, created_at_ms FROM ledger_accounts WHERE account_id = $1",
      [accountId],
    );
    return rows[0] ? toAccount(rows[0]) : undefined;
  }

  async postLinked(inputs: readonly TransferInput[]): Promise<Transfer[]> {
    assert(inputs.length > 0 && inputs.length <= linkedTransfersMax, `${inputs.length} linked transfers, 1-${linkedTransfersMax} allowed`);
    inputs.forEach(validateTransfer);
    const postedAtMs = this.clock.nowMs();
    await this.client.query("SAVEPOINT linked_transfers");
    const posted: Transfer[] = [];
    for (const input of inputs) {
      const { rows } = await this.client.query<{ transfer_id: number }>(postLeg, [
        input.debitAccountId,
        input.creditAccountId,
        input.amountMinor,
        input.currency,
        input.kind,
        input.reference,
        postedAtMs,
      ]);
      if (!rows[0]) {
        await this.client.query("ROLLBACK TO SAVEPOINT linked_transfers");
        throw await this.refusalOf(input);
      }
      posted.push({ ...input, transferId: rows[0].transfer_id, postedAtMs });
    }
    await this.client.query("RELEASE SAVEPOINT linked_transfers");
    return posted;
  }

  async lockHubWindow(hubId: string): Promise<SeqWindow> {
    const held = this.windows.get(hubId);
    if (held) return held;
    // DO UPDATE (not DO NOTHING) so the row comes back locked whether it was just made or already there.
    const { rows } = await this.client.query<{ top_seq: number; seen_below: Buffer }>(
      `INSERT INTO hub_seq_windows (hub_id, top_seq, seen_below) VALUES ($1, 0, $2)
       ON CONFLICT (hub_id) DO UPDATE SET hub_id = excluded.hub_id RETURNING top_seq, seen_below`,
      [hubId, Buffer.from(emptySeqWindow().seenBelow)],
    );
    assert(rows[0], `hub ${hubId} window row exists`);
    const window = { topSeq: rows[0].top_seq, seenBelow: new Uint8Array(rows[0].seen_below) };
    this.windows.set(hubId, window);
    return window;
  }

  async acceptHubSeq(hubId: string, seq: number): Promise<void> {
    const next = acceptSeq(await this.lockHubWindow(hubId), seq);
    if (next instanceof TapwireError) throw next;
    await this.client.query("UPDATE hub_seq_windows SET top_seq = $2, seen_below = $3 WHERE hub_id = $1", [hubId, next.topSeq, Buffer.from(next.seenBelow)]);
    this.windows.set(hubId, next);
  }

  async findDecision(key: string, requestId: string): Promise<StoredDecision | undefined> {
    const { rows } = await this.client.query<DecisionRow>(`SELECT ${decisionColumns} FROM settlement_decisions WHERE hub_id = $1 AND request_id = $2`, [
      key,
      requestId,
    ]);
    return rows[0] ? toDecision(rows[0]) : undefined;
  }

  async saveDecision(d: StoredDecision): Promise<void> {
    await this.client.query(`INSERT INTO settlement_decisions (${decisionColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, [
      d.hubId,
      d.principalKind,
      d.requestId,
      Buffer.from(d.bodyHash),
      d.requestType,
      d.status,
      d.code,
      d.walletId ?? null,
      d.decision,
      d.expMs,
      d.createdAtMs,
    ]);
  }

  async spendBudget(mandateId: string, amountMinor: number): Promise<boolean> {
    const result = await this.client.query(
      "UPDATE mandate_budgets SET spent_minor = spent_minor + $2 WHERE mandate_id = $1 AND spent_minor + $2 <= budget_minor",
      [mandateId, amountMinor],
    );
    return result.rowCount === 1;
  }

  async consumeClosedMandate(closedHash: Uint8Array, consumer: { agentId: string; requestId: string; mandateId: string }, nowMs: number): Promise<boolean> {
    const result = await this.client.query(
      `INSERT INTO agent_closed_mandates (closed_hash, agent_id, request_id, mandate_id, consumed_at_ms) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (closed_hash) DO NOTHING`,
      [Buffer.from(closedHash), consumer.agentId, consumer.requestId, consumer.mandateId, nowMs],
    );
    return result.rowCount === 1;
  }

  /** Why a leg was refused, checked in SqliteLedger's order: a missing account, a currency, then funds. */
  private async refusalOf(input: TransferInput): Promise<TapwireError> {
    const debit = await this.findAccount(input.debitAccountId);
    const credit = await this.findAccount(input.creditAccountId);
    for (const [accountId, account] of [[input.debitAccountId, debit], [input.creditAccountId, credit]] as const) {
      if (!account) return new TapwireError(`no ledger account ${accountId}`, ErrorCode.LedgerAccountMissing, { accountId });
    }
    assert(debit && credit, "both accounts were found");
    for (const account of [debit, credit]) {
      try {
        assertSameCurrency(account, input.currency);
      } catch (error) {
        return error as TapwireError;
      }
    }
    return insufficientFunds(debit.accountId, debit.balanceMinor, input.amountMinor);
  }
}
