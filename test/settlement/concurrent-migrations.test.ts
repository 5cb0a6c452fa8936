import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { openSqliteDb, schemaVersion } from "../../broker/ledger/sqlite-db.ts";
import { glassesSchema } from "../../broker/settlement/glasses-payer-verifier.ts";
import { serviceSchema } from "../../broker/settlement/service-schema.ts";
import { systemClock } from "../../core/sources.ts";

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Opens the database from `count` threads released at the same instant; each reports ok or its error. */
async function openAtOnce(path: string, count: number): Promise<Array<{ ok: boolean; message?: string }>> {
  const start = new Int32Array(new SharedArrayBuffer(4));
  const workers = Array.from({ length: count }, () => new Worker(new URL("./migrate-worker.mjs", import.meta.url), { workerData: { path, start } }));
  const results = workers.map(
    (worker) =>
      new Promise<{ ok: boolean; message?: string }>((resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
      }),
  );
  // Give every thread time to load and reach the barrier: a late one would only migrate after the others.
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once("online", resolve))));
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  Atomics.store(start, 0, 1);
  Atomics.notify(start, 0);
  try {
    return await Promise.all(results);
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

describe("migrations when several settlement workers start at once on a fresh database", () => {
  it("all of them start, and each migration is applied exactly once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tapwire-migrate-"));
    dirs.push(dir);
    const path = join(dir, "ledger.sqlite");

    const results = await openAtOnce(path, 6);

    expect(results).toEqual(Array(6).fill({ ok: true }));
    const db = openSqliteDb({ path, components: serviceSchema([glassesSchema]), clock: systemClock });
    try {
      for (const component of serviceSchema([glassesSchema])) expect([component.name, schemaVersion(db, component.name)]).toEqual([component.name, component.migrations.length]);
    } finally {
      db.close();
    }
  });
});
