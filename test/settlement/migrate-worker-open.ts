import { parentPort, workerData } from "node:worker_threads";
import { openSqliteDb } from "../../broker/ledger/sqlite-db.ts";
import { glassesSchema } from "../../broker/settlement/glasses-payer-verifier.ts";
import { serviceSchema } from "../../broker/settlement/service-schema.ts";
import { systemClock } from "../../core/sources.ts";

const { path, start } = workerData as { path: string; start: Int32Array };
// Every worker waits at the same barrier, so their migrations really overlap.
Atomics.wait(start, 0, 0);
try {
  openSqliteDb({ path, components: serviceSchema([glassesSchema]), clock: systemClock }).close();
  parentPort?.postMessage({ ok: true });
} catch (error) {
  parentPort?.postMessage({ ok: false, message: (error as Error).message });
}
