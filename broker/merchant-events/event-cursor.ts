import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";

/** Where event delivery stands: the seq of the last evidence row done with. */
export interface Cursor {
  read(): number;
  write(seq: number): void;
}

/**
 * The seq of the last evidence row whose event was delivered, in a file replaced whole (written, synced, renamed),
 * so a restart resumes after it: a crash between a delivery and the write delivers that event again, with the
 * same delivery id, which the receiver drops.
 */
export class EventCursor implements Cursor {
  constructor(private readonly path: string) {}

  /** The seq in the file; 0 when there is no file yet. */
  read(): number {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw new TapwireError(`cannot read the event cursor ${this.path}: ${(error as Error).message}`, ErrorCode.ConfigInvalid, { path: this.path });
    }
    const seq = Number(text.trim());
    if (!Number.isSafeInteger(seq) || seq < 0) throw new TapwireError(`event cursor ${this.path} holds ${JSON.stringify(text)}, not a seq`, ErrorCode.ConfigInvalid);
    return seq;
  }

  /** Replaces the file whole (written, synced, renamed). */
  write(seq: number): void {
    const temporary = `${this.path}.tmp`;
    const fd = openSync(temporary, "w", 0o600);
    try {
      writeSync(fd, `${seq}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
  }
}
