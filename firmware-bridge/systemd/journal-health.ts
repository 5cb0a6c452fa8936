import { accessSync, constants, statfsSync } from "node:fs";
import type { HubJournal } from "../../device/journal/hub-journal.ts";
import { errorCodeName, isTapwireError } from "../../protocol/errors.ts";
import type { HealthCheck } from "./service-watchdog.ts";

/** Below this much free space on the journal's file system the next sale's write may fail: unhealthy before it does. */
export const journalFreeBytesMin = 4 * 1024 * 1024;

/**
 * The journal as the watchdog sees it: a write transaction goes through (the journal's own bounded prune, which
 * also notices the file deleted or replaced), the file is writable (an SD card remounted read-only after I/O
 * errors answers EROFS), and its file system has room. Any of these failing means the next sale cannot be journaled.
 */
export function journalHealth(journal: HubJournal, path: string): HealthCheck {
  return () => {
    try {
      journal.prune();
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      return `cannot write the journal: E${error.code} ${errorCodeName(error.code)}`;
    }
    if (path === ":memory:") return undefined;
    try {
      accessSync(path, constants.W_OK);
      const { bavail, bsize } = statfsSync(path);
      const freeBytes = bavail * bsize;
      if (freeBytes < journalFreeBytesMin) return `only ${freeBytes} bytes free beside the journal ${path}`;
    } catch (error) {
      return `journal ${path} not writable: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
    }
    return undefined;
  };
}
