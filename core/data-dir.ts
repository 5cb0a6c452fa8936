import { constants, mkdirSync, statSync } from "node:fs";
import { access, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";

/**
 * The two ways a command meets its data directory. Only the commands that set one up (`tapwire settle`, the enrol
 * commands) create it; every other command needs one that is already there, so a mistyped --data-dir is an error
 * naming the path instead of a fresh, empty ledger and operator CA.
 *
 * Node's `mkdir(…, { recursive: true })` (and mkdirSync) loops forever, at full CPU, when the kernel answers ENOENT
 * for a parent that exists, as /proc does for `/proc/tapwire`: a folder a user names is therefore made one level at
 * a time here (makeDirectories), never with `recursive`.
 */

/** The marker of a data directory the settlement service has opened at least once. */
export const ledgerFileName = "ledger.sqlite";

function unusable(path: string, why: string, cause?: unknown, what = "data dir"): TapwireError {
  return new TapwireError(`${what} ${path}: ${why}`, ErrorCode.DataDirUnusable, { path }, cause === undefined ? {} : { cause });
}

function reason(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  return code ?? message;
}

function kindOf(path: string): "directory" | "other" | "missing" {
  try {
    return statSync(path).isDirectory() ? "directory" : "other";
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENOTDIR: a parent is a file; walking up then names it.
    if (code === "ENOENT" || code === "ENOTDIR") return "missing";
    throw unusable(path, `cannot be read (${reason(error)})`, error);
  }
}

/** Writes and removes a probe file: the only test of writability that also holds for root and read-only mounts. */
async function requireWritable(path: string): Promise<void> {
  const probe = join(path, ".tapwire-write-probe");
  try {
    await access(path, constants.W_OK | constants.X_OK);
    await writeFile(probe, "");
    await rm(probe, { force: true });
  } catch (error) {
    throw unusable(path, `not writable (${reason(error)})`, error);
  }
}

/**
 * Makes `dir` and any missing parents, one level at a time (see the file comment); E816 DataDirUnusable names the
 * folder (`what`: "data dir", "--out folder") when one is a file or cannot be made.
 */
export function makeDirectories(dir: string, options: { mode: number; what: string }): void {
  const path = resolve(dir);
  const missing: string[] = [];
  let at = path;
  for (;;) {
    const kind = kindOf(at);
    if (kind === "directory") break;
    if (kind === "other") throw unusable(path, at === path ? "exists and is not a directory" : `${at} is not a directory`, undefined, options.what);
    missing.unshift(at);
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const level of missing) {
    try {
      mkdirSync(level, { mode: options.mode });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw unusable(path, `cannot create ${level} (${reason(error)})`, error, options.what);
    }
  }
}

/** Makes the data dir (owner-only) where it is missing; writable when it returns. */
export async function createDataDir(dataDir: string): Promise<void> {
  makeDirectories(dataDir, { mode: 0o700, what: "data dir" });
  await requireWritable(resolve(dataDir));
}

/** A data directory some command already set up (it holds the ledger); anything else is refused, naming the path. */
export async function requireDataDir(dataDir: string): Promise<void> {
  const path = resolve(dataDir);
  const kind = kindOf(path);
  if (kind === "missing") throw unusable(path, "does not exist (run `tapwire settle` or an enrol command with this --data-dir first)");
  if (kind === "other") throw unusable(path, "exists and is not a directory");
  if (kindOf(join(path, ledgerFileName)) === "missing") throw unusable(path, `holds no ${ledgerFileName}: not a tapwire data dir`);
}
