import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ledgerFileName } from "../../core/data-dir.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";

/**
 * Where a data dir's settlement data lives: its own SQLite file (the default), or a PostgreSQL database several
 * workers share, named once in the data dir's `store.url` (by `tapwire db migrate --store` or `tapwire settle
 * --store`) so every command on that data dir, workers and admin alike, opens the same one.
 */
export const storeFileName = "store.url";

export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//.test(location);
}

/** The data dir's store: the URL its store.url names, else its SQLite file. */
export function storeOfDataDir(dataDir: string): string {
  const file = join(dataDir, storeFileName);
  if (!existsSync(file)) return join(dataDir, ledgerFileName);
  const url = readFileSync(file, "utf8").trim();
  if (!isPostgresUrl(url)) throw new TapwireError(`${file} must hold a postgres:// URL`, ErrorCode.ConfigInvalid, { path: file });
  return url;
}

/** Names `url` as the data dir's store; a data dir already naming another one is refused (ConfigInvalid). */
export function recordStore(dataDir: string, url: string): void {
  if (!isPostgresUrl(url)) throw new TapwireError(`--store must be a postgres:// URL, not ${describeStore(url)}`, ErrorCode.ConfigInvalid, { option: "store" });
  const current = storeOfDataDir(dataDir);
  if (current === url) return;
  if (isPostgresUrl(current)) {
    throw new TapwireError(`data dir ${dataDir} already uses ${describeStore(current)}`, ErrorCode.ConfigInvalid, { option: "store" });
  }
  writeFileSync(join(dataDir, storeFileName), `${url}\n`, { mode: 0o600 });
}

/** The location without a password, for logs and messages. */
export function describeStore(location: string): string {
  if (!isPostgresUrl(location)) return location;
  const url = new URL(location);
  url.password = "";
  return url.toString();
}
