import { openSqliteDb } from "../broker/ledger/sqlite-db.ts";
import { glassesSchema } from "../broker/settlement/glasses-payer-verifier.ts";
import { serviceSchema } from "../broker/settlement/service-schema.ts";
import { openPgDb } from "../broker/store/pg-open.ts";
import { describeStore, isPostgresUrl, recordStore, storeOfDataDir } from "../broker/store/store-location.ts";
import { createDataDir } from "../core/data-dir.ts";
import { systemClock } from "../core/sources.ts";
import { dataDirFlag } from "./admin.ts";
import { parseFlags } from "./args.ts";

export const dbUsage = `tapwire db migrate [--data-dir DIR] [--store postgres://USER@HOST:PORT/DB]
  Applies the schema migrations not yet applied, then exits; safe while workers start or run (SQLite: each
  migration in an IMMEDIATE transaction; PostgreSQL: under an advisory lock). Workers also migrate on start.
  --store names the PostgreSQL database the data dir's workers share (kept in DIR/store.url, so \`tapwire settle\`
  and every admin command on DIR use it); without it, the data dir's store (its SQLite file unless named).
  example: tapwire db migrate --data-dir .tapwire --store postgres://postgres@127.0.0.1:5432/tapwire`;

export async function dbMigrateCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, store: { type: "string" } });
  const dataDir = values["data-dir"];
  await createDataDir(dataDir);
  if (values.store !== undefined) recordStore(dataDir, values.store);
  const location = storeOfDataDir(dataDir);
  // The settlement node plugs the glasses verifier in by default: its table is migrated with the rest.
  const options = { components: serviceSchema([glassesSchema]), clock: systemClock };
  (isPostgresUrl(location) ? openPgDb({ url: location, ...options }) : openSqliteDb({ path: location, ...options })).close();
  process.stdout.write(`migrated ${isPostgresUrl(location) ? "postgres" : "sqlite"} store ${describeStore(location)}\n`);
  return 0;
}
