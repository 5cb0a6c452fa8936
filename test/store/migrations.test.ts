import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "../../broker/store/open-store.ts";
import { engineNames, freshLocation, type StoreLocation } from "./engines.ts";
import { migratedSchema, testClock } from "./store-jobs.ts";
import { atOnce } from "./store-workers.ts";

const workers = 4;
/** Each worker is a thread loading the TypeScript sources through tsx (PostgreSQL's connection one more): seconds on a busy 2-core machine. */
const startUpAllowanceMs = 60_000;

describe.each(engineNames)("migrations when several settlement workers start at once on a fresh %s database", (engine) => {
  let place: StoreLocation | undefined;
  afterEach(async () => {
    await place?.dispose();
    place = undefined;
  });

  it("every worker opens the store, and each component's migrations are applied once (no `already exists`)", async () => {
    place = await freshLocation(engine);

    const outcomes = await atOnce(place.location, Array.from({ length: workers }, () => ({ kind: "migrate" as const })));

    expect(outcomes.slice(1)).toEqual(Array(workers).fill(["committed"]));
    const db = openStore(place.location, migratedSchema(), testClock());
    try {
      const versions = db.prepare<[], { component: string; version: number }>("SELECT component, version FROM schema_version ORDER BY component").all();
      const expected = migratedSchema().map((component) => ({ component: component.name, version: component.migrations.length }));
      expect(versions).toEqual(expected.sort((a, b) => (a.component < b.component ? -1 : 1)));
    } finally {
      db.close();
    }
  }, startUpAllowanceMs);
});
