import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { campaignAccountId, fundingAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import { openSqliteDb, schemaVersion, type SqliteDb } from "../../broker/ledger/sqlite-db.ts";
import { ledgerSchema } from "../../broker/ledger/ledger-schema.ts";
import { SqliteLedger } from "../../broker/ledger/sqlite-ledger.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { ManualClock } from "../../core/sources.ts";

const clock = new ManualClock();
let dir: string;
let path: string;
let db: SqliteDb | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tapwire-ledger-migration-"));
  path = join(dir, "ledger.sqlite");
});

afterEach(() => {
  db?.close();
  db = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const transfer = (debitAccountId: string, creditAccountId: string, amountMinor: number) => ({
  debitAccountId,
  creditAccountId,
  amountMinor,
  currency: "EUR",
  kind: "funding",
  reference: "test",
});

describe("the ledger's campaign accounts", () => {
  it("a database from before campaigns keeps every balance and posting, and takes campaign accounts after it migrates", () => {
    const before = openSqliteDb({ path, components: [{ name: "ledger", migrations: ledgerSchema.migrations.slice(0, 1) }], clock });
    const old = new SqliteLedger(before, clock);
    for (const id of [fundingAccountId("EUR"), walletAccountId("w1")]) old.ensureAccount(id, "EUR");
    old.postTransfer(transfer(fundingAccountId("EUR"), walletAccountId("w1"), 700));
    before.close();

    db = openSqliteDb({ path, components: [ledgerSchema], clock });
    const ledger = new SqliteLedger(db, clock);
    ledger.ensureAccount(campaignAccountId("c1"), "EUR");
    ledger.postTransfer(transfer(fundingAccountId("EUR"), campaignAccountId("c1"), 300));

    expect(schemaVersion(db, "ledger")).toBe(ledgerSchema.migrations.length);
    expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect([ledger.balanceOf(walletAccountId("w1")), ledger.balanceOf(campaignAccountId("c1"))]).toEqual([700, 300]);
    expect(ledger.checkInvariants()).toMatchObject({ accounts: 3, transfers: 2 });
  });

  it("a campaign account never goes below zero, and linked legs post all or none at one time", () => {
    db = openSqliteDb({ path, components: [ledgerSchema], clock });
    const ledger = new SqliteLedger(db, clock);
    for (const id of [fundingAccountId("EUR"), walletAccountId("w1"), campaignAccountId("c1")]) ledger.ensureAccount(id, "EUR");
    ledger.postTransfer(transfer(fundingAccountId("EUR"), campaignAccountId("c1"), 100));

    let code: number | undefined;
    try {
      ledger.postLinked([transfer(fundingAccountId("EUR"), walletAccountId("w1"), 50), transfer(campaignAccountId("c1"), walletAccountId("w1"), 101)]);
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      code = error.code;
    }
    const legs = ledger.postLinked([transfer(fundingAccountId("EUR"), walletAccountId("w1"), 50), transfer(campaignAccountId("c1"), walletAccountId("w1"), 100)]);

    expect(code).toBe(ErrorCode.InsufficientFunds);
    expect(ledger.transferCount()).toBe(3);
    expect(legs[0]!.postedAtMs).toBe(legs[1]!.postedAtMs);
    expect([ledger.balanceOf(walletAccountId("w1")), ledger.balanceOf(campaignAccountId("c1"))]).toEqual([150, 0]);
    ledger.checkInvariants();
  });
});
