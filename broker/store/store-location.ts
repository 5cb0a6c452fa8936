import { join } from "node:path";

/** Where a settlement worker keeps its data: the embedded SQLite file, or a PostgreSQL database workers share. */
export type StoreLocation = { engine: "sqlite"; path: string } | { engine: "postgres"; url: string };

/** `--store` as the CLI takes it: a postgres:// or postgresql:// URL, a SQLite file path, or (absent) the data dir's ledger. */
export function storeLocation(store: string | undefined, dataDir: string): StoreLocation {
  if (store === undefined) return { engine: "sqlite", path: join(dataDir, "ledger.sqlite") };
  if (/^postgres(ql)?:\/\//.test(store)) return { engine: "postgres", url: store };
  return { engine: "sqlite", path: store };
}

/** The location without a password, for logs and messages. */
export function describeStore(location: StoreLocation): string {
  if (location.engine === "sqlite") return location.path;
  const url = new URL(location.url);
  url.password = "";
  return url.toString();
}
