import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../core/sources.ts";
import { ledgerSchema } from "../../broker/ledger/ledger-schema.ts";
import { openSqliteDb, schemaVersion, type SqliteDb } from "../../broker/ledger/sqlite-db.ts";
import { registrySchema } from "../../broker/registry/registry-schema.ts";
import { DecisionStore } from "../../broker/settlement/decision-store.ts";
import { settlementSchema } from "../../broker/settlement/settlement-schema.ts";

let dir: string;
let db: SqliteDb | undefined;
const clock = new ManualClock();

/** The settlement tables migrated up to `version` (all by default), beside the ledger and registry they reference. */
function open(version = settlementSchema.migrations.length): SqliteDb {
  db?.close();
  const settlement = { ...settlementSchema, migrations: settlementSchema.migrations.slice(0, version) };
  db = openSqliteDb({ path: join(dir, "settlement.sqlite"), components: [ledgerSchema, registrySchema, settlement], clock });
  return db;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tapwire-decisions-"));
});

afterEach(() => {
  db?.close();
  db = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const everyRow = (database: SqliteDb) => database.prepare("SELECT * FROM settlement_decisions ORDER BY hub_id, request_id").all();

describe("settlement migration 5: decisions in a rowid table", () => {
  it("keeps every decision as it was, the unique key, the index by age, and the idempotency lookups", () => {
    const before = open(4);
    const insert = before.prepare(
      `INSERT INTO settlement_decisions (hub_id, principal_kind, request_id, body_hash, request_type, status, code, wallet_id, decision, exp_ms, created_at_ms)
       VALUES (?, ?, ?, ?, 'payment_request', ?, ?, ?, ?, ?, ?)`,
    );
    insert.run("h1", "hub", "r1", Buffer.alloc(32, 1), "approved", 0, null, Buffer.from([0xd2, 0x84, 1]), 2_000, 1_000);
    insert.run("h1", "hub", "r2", Buffer.alloc(32, 2), "declined", 1001, null, Buffer.from([0xd2, 0x84, 2]), 3_000, 2_000);
    insert.run("wallets/w1", "wallet", "r1", Buffer.alloc(32, 3), "approved", 0, "w1", Buffer.from([0xd2, 0x84, 3]), 4_000, 3_000);
    const rowsBefore = everyRow(before);

    const after = open();
    const decisions = new DecisionStore(after);
    const duplicate = () =>
      after.prepare(
        `INSERT INTO settlement_decisions (hub_id, principal_kind, request_id, body_hash, request_type, status, code, wallet_id, decision, exp_ms, created_at_ms)
         VALUES ('h1', 'hub', 'r1', x'00', 'payment_request', 'approved', 0, NULL, x'00', 0, 0)`,
      ).run();

    expect(schemaVersion(after, "settlement")).toBe(5);
    expect(everyRow(after)).toEqual(rowsBefore);
    expect(decisions.findDecision("h1", "r2")?.status).toBe("declined");
    expect(decisions.findDecision("wallets/w1", "r1")?.walletId).toBe("w1");
    expect(duplicate).toThrow(expect.objectContaining({ code: "SQLITE_CONSTRAINT_UNIQUE" }));
    const table = after.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'settlement_decisions'").get();
    expect(table?.sql).not.toMatch(/WITHOUT ROWID/);
    const plan = after.prepare<[], { detail: string }>("EXPLAIN QUERY PLAN SELECT hub_id FROM settlement_decisions WHERE created_at_ms < 5 ORDER BY created_at_ms").all();
    expect(plan.map((step) => step.detail).join(" ")).toContain("settlement_decisions_by_age");
  });
});
