import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { ManualClock } from "../../core/sources.ts";
import { fundingAccountId, merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import { openSqliteDb, schemaVersion, type SqliteDb } from "../../broker/ledger/sqlite-db.ts";
import { ledgerSchema } from "../../broker/ledger/ledger-schema.ts";
import { SqliteLedger } from "../../broker/ledger/sqlite-ledger.ts";
import { codeOf } from "./preamble.ts";

let dir: string;
let db: SqliteDb;
let ledger: SqliteLedger;
const clock = new ManualClock();

function open(): void {
  db = openSqliteDb({ path: join(dir, "ledger.sqlite"), components: [ledgerSchema], clock });
  ledger = new SqliteLedger(db, clock);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tapwire-ledger-"));
  open();
  ledger.ensureAccount(fundingAccountId("EUR"), "EUR");
  ledger.ensureAccount(walletAccountId("w1"), "EUR");
  ledger.ensureAccount(merchantAccountId("m1"), "EUR");
  ledger.ensureAccount(walletAccountId("w-usd"), "USD");
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const transfer = (debitAccountId: string, creditAccountId: string, amountMinor: number, currency = "EUR") => ({
  debitAccountId,
  creditAccountId,
  amountMinor,
  currency,
  kind: "test",
  reference: "t",
});

describe("SQLite ledger", () => {
  it("opens in WAL mode with full sync and foreign keys, and records the schema version", () => {
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("synchronous", { simple: true })).toBe(2);
    expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(schemaVersion(db, "ledger")).toBe(ledgerSchema.migrations.length);
  });

  it("moves money between accounts with balances that sum to zero", () => {
    ledger.postTransfer(transfer(fundingAccountId("EUR"), walletAccountId("w1"), 1_000));
    ledger.postTransfer(transfer(walletAccountId("w1"), merchantAccountId("m1"), 300));

    expect(ledger.balanceOf(fundingAccountId("EUR"))).toBe(-1_000);
    expect(ledger.balanceOf(walletAccountId("w1"))).toBe(700);
    expect(ledger.balanceOf(merchantAccountId("m1"))).toBe(300);
    expect(ledger.checkInvariants()).toMatchObject({ transfers: 2, balanceSumMinorByCurrency: { EUR: 0, USD: 0 } });
    expect(ledger.transfers({ accountId: walletAccountId("w1"), limit: 10 }).map((t) => t.amountMinor)).toEqual([300, 1_000]);
  });

  it("refuses bad transfers with typed errors and posts nothing", () => {
    ledger.postTransfer(transfer(fundingAccountId("EUR"), walletAccountId("w1"), 100));

    expect(codeOf(() => ledger.postTransfer(transfer(walletAccountId("w1"), merchantAccountId("m1"), 101)))).toBe(ErrorCode.InsufficientFunds);
    expect(codeOf(() => ledger.postTransfer(transfer(walletAccountId("w1"), merchantAccountId("m1"), -5)))).toBe(ErrorCode.AmountNotPositive);
    expect(codeOf(() => ledger.postTransfer(transfer(walletAccountId("w1"), merchantAccountId("m1"), 0)))).toBe(ErrorCode.AmountNotPositive);
    expect(codeOf(() => ledger.postTransfer(transfer(walletAccountId("w1"), merchantAccountId("m1"), 1.5)))).toBe(ErrorCode.InvalidMoney);
    expect(codeOf(() => ledger.postTransfer(transfer(walletAccountId("w1"), walletAccountId("w1"), 10)))).toBe(ErrorCode.LedgerUnbalanced);
    expect(codeOf(() => ledger.postTransfer(transfer(walletAccountId("w1"), walletAccountId("w-usd"), 10)))).toBe(ErrorCode.CurrencyMismatch);
    expect(codeOf(() => ledger.postTransfer(transfer(walletAccountId("w1"), merchantAccountId("m1"), 10, "USD")))).toBe(ErrorCode.CurrencyMismatch);
    expect(codeOf(() => ledger.postTransfer(transfer(walletAccountId("w1"), merchantAccountId("nobody"), 10)))).toBe(ErrorCode.LedgerAccountMissing);
    expect(codeOf(() => ledger.postTransfer(transfer(walletAccountId("w1"), merchantAccountId("m1"), 10, "XXX")))).toBe(ErrorCode.UnknownCurrency);
    expect(ledger.transferCount()).toBe(1);
    expect(ledger.balanceOf(walletAccountId("w1"))).toBe(100);
    ledger.checkInvariants();
  });

  it("refuses an account in a second currency and malformed account ids", () => {
    expect(codeOf(() => ledger.ensureAccount(walletAccountId("w1"), "USD"))).toBe(ErrorCode.CurrencyMismatch);
    expect(codeOf(() => ledger.ensureAccount("funding:EUR", "USD"))).toBe(ErrorCode.CurrencyMismatch);
    expect(codeOf(() => ledger.ensureAccount("piggybank:1", "EUR"))).toBe(ErrorCode.LedgerAccountMissing);
    expect(codeOf(() => ledger.balanceOf(walletAccountId("ghost")))).toBe(ErrorCode.LedgerAccountMissing);
  });

  it("writes one posting a side and names the missing account, the debit side first", () => {
    const posted = ledger.postTransfer(transfer(fundingAccountId("EUR"), walletAccountId("w1"), 250));
    const postings = db
      .prepare<[number], { account_id: string; amount_minor: number }>("SELECT account_id, amount_minor FROM ledger_postings WHERE transfer_id = ? ORDER BY amount_minor")
      .all(posted.transferId);
    expect(postings).toEqual([
      { account_id: fundingAccountId("EUR"), amount_minor: -250 },
      { account_id: walletAccountId("w1"), amount_minor: 250 },
    ]);

    const missing = (debit: string, credit: string) => {
      try {
        ledger.postTransfer(transfer(debit, credit, 10));
      } catch (error) {
        return error;
      }
      return undefined;
    };
    expect(missing(walletAccountId("ghost"), merchantAccountId("nobody"))).toMatchObject({ code: ErrorCode.LedgerAccountMissing, context: { accountId: walletAccountId("ghost") } });
    expect(missing(walletAccountId("w1"), merchantAccountId("nobody"))).toMatchObject({ code: ErrorCode.LedgerAccountMissing, context: { accountId: merchantAccountId("nobody") } });
    expect(ledger.balanceOf(fundingAccountId("EUR"))).toBe(-250);
    expect(ledger.balanceOf(walletAccountId("w1"))).toBe(250);
    expect(ledger.checkInvariants().transfers).toBe(1);
  });

  it("undoes only the refused transfer inside a larger transaction", () => {
    ledger.postTransfer(transfer(fundingAccountId("EUR"), walletAccountId("w1"), 100));

    db.transaction(() => {
      ledger.postTransfer(transfer(walletAccountId("w1"), merchantAccountId("m1"), 40));
      expect(codeOf(() => ledger.postTransfer(transfer(walletAccountId("w1"), merchantAccountId("m1"), 80)))).toBe(ErrorCode.InsufficientFunds);
    })();

    expect(ledger.balanceOf(merchantAccountId("m1"))).toBe(40);
    expect(ledger.checkInvariants().transfers).toBe(2);
  });

  it("detects a balance that drifted from its postings", () => {
    ledger.postTransfer(transfer(fundingAccountId("EUR"), walletAccountId("w1"), 100));
    db.prepare("UPDATE ledger_accounts SET balance_minor = balance_minor + 1 WHERE account_id = ?").run(walletAccountId("w1"));

    expect(codeOf(() => ledger.checkInvariants())).toBe(ErrorCode.LedgerUnbalanced);
  });

  it("keeps balances across a reopen and migrates only once", () => {
    ledger.postTransfer(transfer(fundingAccountId("EUR"), walletAccountId("w1"), 100));
    db.close();

    open();

    expect(ledger.balanceOf(walletAccountId("w1"))).toBe(100);
    expect(db.prepare("SELECT COUNT(*) AS n FROM schema_version").get()).toEqual({ n: 1 });
  });

  it("drops the by-reference index of a database from before version 3, keeping its transfers", () => {
    ledger.postTransfer(transfer(fundingAccountId("EUR"), walletAccountId("w1"), 100));
    const indexes = () => db.prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'ledger_transfers'").pluck().all();
    expect(indexes()).toEqual([]);
    // As version 2 left it.
    db.exec("CREATE INDEX ledger_transfers_by_reference ON ledger_transfers (reference)");
    db.prepare("UPDATE schema_version SET version = 2 WHERE component = 'ledger'").run();
    db.close();

    open();

    expect(indexes()).toEqual([]);
    expect(schemaVersion(db, "ledger")).toBe(3);
    expect(ledger.balanceOf(walletAccountId("w1"))).toBe(100);
    expect(ledger.checkInvariants().transfers).toBe(1);
  });

  it("refuses a database written by a newer schema", () => {
    db.prepare("UPDATE schema_version SET version = 99 WHERE component = 'ledger'").run();
    db.close();

    expect(codeOf(open)).toBe(ErrorCode.LedgerStorage);
  });
});
