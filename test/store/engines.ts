import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteDb } from "../../broker/ledger/sqlite-db.ts";
import type { DataStore } from "../../broker/store/data-store.ts";
import { PgDataStore } from "../../broker/store/pg-data-store.ts";
import { SqliteDataStore } from "../../broker/store/sqlite-data-store.ts";
import { serviceSchema } from "../../broker/settlement/service-schema.ts";
import { ManualClock } from "../../core/sources.ts";
import { createTestDatabase, sqlOn } from "../support/postgres.ts";

/**
 * Each engine of the shared store, fresh for one test, with the rows the store does not create itself: an
 * enrolled hub (SQLite's window lives on the registry's hub row), and a mandate's budget.
 */
export interface EngineUnderTest {
  store: DataStore;
  /** Another connection to the same data, as a second worker has. Closed by dispose. */
  secondWorker(): Promise<DataStore>;
  addHub(hubId: string): Promise<void>;
  addBudget(mandateId: string, budgetMinor: number): Promise<void>;
  dispose(): Promise<void>;
}

export const clock = new ManualClock(1_700_000_000_000);

export const engines: Record<"sqlite" | "postgres", () => Promise<EngineUnderTest>> = {
  async sqlite() {
    const dir = await mkdtemp(join(tmpdir(), "tapwire-store-"));
    const path = join(dir, "ledger.sqlite");
    const db = openSqliteDb({ path, components: serviceSchema([]), clock });
    const store = new SqliteDataStore(db, clock);
    return {
      store,
      // SQLite has one writer, in one process: a "second worker" there is the same store, its transactions queued.
      async secondWorker() {
        return store;
      },
      async addHub(hubId) {
        db.prepare("INSERT OR IGNORE INTO registry_merchants (merchant_id, currency, display_name, enrolled_at_ms) VALUES ('m1', 'EUR', 'M', 0)").run();
        db.prepare(
          "INSERT INTO registry_hubs (hub_id, merchant_id, public_key_pem, status, certificate_serial, enrolled_at_ms) VALUES (?, 'm1', 'pem', 'active', '01', 0)",
        ).run(hubId);
      },
      async addBudget(mandateId, budgetMinor) {
        db.prepare("INSERT OR IGNORE INTO registry_wallets (wallet_id, public_key_pem, currency, per_payment_max_minor, enrolled_at_ms) VALUES ('w1', 'pem', 'EUR', 1000, 0)").run();
        db.prepare(
          `INSERT INTO agent_mandates (mandate_id, wallet_id, agent_id, agent_key, per_payment_max_minor, budget_minor, currency, allowed_merchants,
             allowed_categories, not_before_ms, expires_at_ms, status, mandate, mandate_hash, registered_at_ms)
           VALUES (?, 'w1', 'a1', x'00', ?, ?, 'EUR', '[]', '[]', 0, 1, 'active', x'00', x'00', 0)`,
        ).run(mandateId, budgetMinor, budgetMinor);
      },
      async dispose() {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  async postgres() {
    const database = await createTestDatabase();
    const stores: DataStore[] = [await PgDataStore.open({ url: database.url, clock })];
    return {
      store: stores[0]!,
      async secondWorker() {
        const second = await PgDataStore.open({ url: database.url, clock });
        stores.push(second);
        return second;
      },
      // The PostgreSQL store keeps windows only, made on a hub's first request; the registry stays the service's.
      async addHub() {},
      async addBudget(mandateId, budgetMinor) {
        await sqlOn(database.url, "INSERT INTO mandate_budgets (mandate_id, currency, budget_minor) VALUES ($1, 'EUR', $2)", [mandateId, budgetMinor]);
      },
      async dispose() {
        for (const store of stores) await store.close();
        await database.drop();
      },
    };
  },
};
