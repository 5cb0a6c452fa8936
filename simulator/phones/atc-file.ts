import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";

/**
 * The virtual phone's transaction counter, kept in its wallet dir (`atc`: the next ATC, in decimal) as a real
 * phone keeps it in its secure storage, so a restarted `tapwire sim serve pn532` goes on where it stopped.
 */
export const atcFileName = "atc";

const atcMax = 0xffff;

/** The next ATC stored in `walletDir`, or 1 for a wallet that never paid. */
export function readNextAtc(walletDir: string): number {
  let text: string;
  try {
    text = readFileSync(join(walletDir, atcFileName), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 1;
    throw new TapwireError(`--wallet-dir: cannot read ${join(walletDir, atcFileName)} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, ErrorCode.ConfigInvalid);
  }
  const atc = Number(text.trim());
  if (!Number.isSafeInteger(atc) || atc < 1 || atc > atcMax + 1) {
    throw new TapwireError(`${join(walletDir, atcFileName)} holds no ATC (1..${atcMax + 1}): ${JSON.stringify(text.slice(0, 20))}`, ErrorCode.ConfigInvalid);
  }
  return atc;
}

/** Stores the next ATC, replacing the file whole (write then rename), so a crash leaves the old or the new one. */
export function writeNextAtc(walletDir: string, nextAtc: number): void {
  const path = join(walletDir, atcFileName);
  writeFileSync(`${path}.tmp`, `${nextAtc}\n`);
  renameSync(`${path}.tmp`, path);
}
