import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serviceSchema } from "../../broker/settlement/service-schema.ts";
import { openStore } from "../../broker/store/open-store.ts";
import { createServiceDatabase, createTestDatabase } from "../support/postgres.ts";
import { storesOver, testClock, type SettlementStores } from "./store-jobs.ts";

/** The engines every store test runs on: the embedded SQLite file and a PostgreSQL database several workers share. */
export const engineNames = ["sqlite", "postgres"] as const;
export type EngineName = (typeof engineNames)[number];

export interface StoreLocation {
  /** What openStore takes: a SQLite file path or a postgres:// URL. Other workers open their own connection to it. */
  location: string;
  dispose(): Promise<void>;
}

/** A database of its own, still empty: a SQLite file in a temp dir, or a PostgreSQL database created for the test. */
export async function freshLocation(engine: EngineName): Promise<StoreLocation> {
  if (engine === "postgres") {
    const database = await createTestDatabase();
    return { location: database.url, dispose: () => database.drop() };
  }
  const dir = await mkdtemp(join(tmpdir(), "tapwire-store-"));
  return { location: join(dir, "settlement.sqlite"), dispose: () => rm(dir, { recursive: true, force: true }) };
}

export interface EngineUnderTest extends StoreLocation {
  /** The first worker's stores, over the test's own connection. */
  stores: SettlementStores;
}

/** A database holding the service's schema (a PostgreSQL one copied from the migrated template), opened as the service opens it. */
export async function openEngine(engine: EngineName): Promise<EngineUnderTest> {
  const place = engine === "postgres" ? await createServiceDatabase().then((d) => ({ location: d.url, dispose: () => d.drop() })) : await freshLocation(engine);
  const clock = testClock();
  const db = openStore(place.location, serviceSchema([]), clock);
  return {
    location: place.location,
    stores: storesOver(db, clock),
    async dispose() {
      db.close();
      await place.dispose();
    },
  };
}
