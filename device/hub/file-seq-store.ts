import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { assert } from "../../protocol/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { SeqStore } from "../ports.ts";

/** The longest file content accepted: a decimal safe integer and a newline. */
const fileBytesMax = 32;

/**
 * The hub's `seq` counter in one small file. Each value is on disk (write to a temporary file, fsync, rename,
 * fsync the folder) before next() returns it, so a crash or power cut can never hand out a value twice: the
 * service rejects a repeated seq (SeqReplayed), and a hub that repeated one would lock itself out.
 */
export class FileSeqStore implements SeqStore {
  private lastSeq: number | undefined;

  constructor(private readonly path: string) {}

  /** Reads the last value handed out; a missing file means a new hub (starts at 1). */
  start(): void {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new TapwireError(`cannot read seq file ${this.path}: ${(error as Error).message}`, ErrorCode.SeqStoreInvalid);
      }
      this.lastSeq = 0;
      return;
    }
    this.lastSeq = parseSeq(text, this.path);
  }

  stop(): void {
    this.lastSeq = undefined;
  }

  next(): number {
    assert(this.lastSeq !== undefined, "FileSeqStore.next() before start()");
    assert(this.lastSeq < Number.MAX_SAFE_INTEGER, "seq exhausted");
    const seq = this.lastSeq + 1;
    this.persist(seq);
    this.lastSeq = seq;
    return seq;
  }

  private persist(seq: number): void {
    const temporaryPath = `${this.path}.tmp`;
    const fd = openSync(temporaryPath, "w", 0o600);
    try {
      writeSync(fd, `${seq}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporaryPath, this.path);
    syncFolder(dirname(this.path));
  }
}

function parseSeq(text: string, path: string): number {
  const trimmed = text.trim();
  if (text.length > fileBytesMax || !/^\d+$/.test(trimmed) || !Number.isSafeInteger(Number(trimmed))) {
    throw new TapwireError(`seq file ${path} does not hold a counter`, ErrorCode.SeqStoreInvalid, { path });
  }
  return Number(trimmed);
}

/** Makes the rename itself durable; some filesystems refuse to open a folder, and then rename is all we have. */
function syncFolder(folder: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(folder, "r");
    fsyncSync(fd);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EISDIR" && code !== "EPERM" && code !== "EINVAL") throw error;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
