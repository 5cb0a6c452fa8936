import { readFile } from "node:fs/promises";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";

type FlagOptions = NonNullable<ParseArgsConfig["options"]>;
/** What parseFlags returns for `options` (named, so the compiled declarations can refer to it). */
export type ParsedFlags<T extends FlagOptions> = ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>;

/** Parses a sub-command's flags; an unknown flag fails with the list of valid ones. */
export function parseFlags<T extends FlagOptions>(argv: string[], options: T): ParsedFlags<T> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    const valid = Object.keys(options).map((name) => `--${name}`).join(", ");
    throw new TapwireError(`${(error as Error).message} (valid flags: ${valid})`, ErrorCode.ConfigInvalid);
  }
}

export function requireFlag(value: string | undefined, name: string): string {
  if (value === undefined || value === "") throw new TapwireError(`--${name} is required`, ErrorCode.ConfigInvalid);
  return value;
}

export function integerFlag(value: string | undefined, name: string, min: number, max: number, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) throw new TapwireError(`--${name} is required`, ErrorCode.ConfigInvalid);
    return fallback;
  }
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new TapwireError(`--${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(value)}`, ErrorCode.ConfigInvalid);
  }
  return parsed;
}

/** An optional flag limited to a fixed set of words; anything else fails with the list. */
export function oneOfFlag<T extends string>(value: string | undefined, allowed: readonly T[], name: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new TapwireError(`--${name} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`, ErrorCode.ConfigInvalid);
  }
  return value as T;
}

/** Reads the file a flag names; a missing or unreadable one is the user's error, named with its flag and path. */
export async function readFlagFile(path: string, name: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new TapwireError(`--${name}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, ErrorCode.ConfigInvalid, { path });
  }
}
