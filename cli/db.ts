import { openSqliteDb } from "../broker/ledger/sqlite-db.ts";
import { glassesSchema } from "../broker/settlement/glasses-payer-verifier.ts";
import { serviceSchema } from "../broker/settlement/service-schema.ts";
import { PgDataStore } from "../broker/store/pg-data-store.ts";
import { describeStore, storeLocation } from "../broker/store/store-location.ts";
import { systemClock } from "../core/sources.ts";
import { dataDirFlag } from "./admin.ts";
import { parseFlags } from "./args.ts";

export const dbUsage = `tapwire db migrate [--data-dir DIR | --store FILE | --store postgres://USER@HOST:PORT/DB]
  Applies the schema migrations not yet applied, then exits; safe while workers start or run (SQLite: each
  migration in an IMMEDIATE transaction; PostgreSQL: under an advisory lock). Workers also migrate on start.
  example: tapwire db migrate --store postgres://postgres@127.0.0.1:5432/tapwire`;

export async function dbMigrateCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, store: { type: "string" } });
  const location = storeLocation(values.store, values["data-dir"]);
  if (location.engine === "postgres") {
    await (await PgDataStore.open({ url: location.url, clock: systemClock })).close();
  } else {
    // The settlement node plugs the glasses verifier in by default: its table is migrated with the rest.
    openSqliteDb({ path: location.path, components: serviceSchema([glassesSchema]), clock: systemClock }).close();
  }
  process.stdout.write(`migrated ${location.engine} store ${describeStore(location)}\n`);
  return 0;
}
