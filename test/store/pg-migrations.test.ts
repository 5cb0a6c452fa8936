import { afterEach, describe, expect, it } from "vitest";
import { pgSchema } from "../../broker/store/pg-migrate.ts";
import { PgDataStore } from "../../broker/store/pg-data-store.ts";
import { ManualClock } from "../../core/sources.ts";
import { createTestDatabase, sqlOn, type TestDatabase } from "../support/postgres.ts";

let database: TestDatabase | undefined;
afterEach(async () => {
  await database?.drop();
  database = undefined;
});

describe("PostgreSQL migrations when several workers start at once on a fresh database", () => {
  it("all of them open the store, and each migration is recorded once (pg_advisory_lock)", async () => {
    database = await createTestDatabase();
    const url = database.url;
    const clock = new ManualClock(1_700_000_000_000);

    const opened = await Promise.allSettled(Array.from({ length: 5 }, () => PgDataStore.open({ url, clock })));
    const versions = await sqlOn(url, "SELECT component, version FROM schema_version");

    for (const result of opened) if (result.status === "fulfilled") await result.value.close();
    expect(opened.map((result) => result.status)).toEqual(Array(5).fill("fulfilled"));
    expect(versions.rows).toEqual([{ component: pgSchema.name, version: pgSchema.migrations.length }]);
  });
});
