import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { FileSeqStore } from "../../device/hub/file-seq-store.ts";

describe("FileSeqStore", () => {
  let folder: string;
  let path: string;
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), "tapwire-seq-"));
    path = join(folder, "seq");
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  it("starts a new hub at 1 and keeps counting across restarts", () => {
    const first = new FileSeqStore(path);
    first.start();
    expect([first.next(), first.next(), first.next()]).toEqual([1, 2, 3]);
    first.stop();

    const restarted = new FileSeqStore(path);
    restarted.start();
    expect(restarted.next()).toBe(4);
    expect(readFileSync(path, "utf8")).toBe("4\n");
    expect(readdirSync(folder)).toEqual(["seq"]);
  });

  it("refuses a file that does not hold a counter (SeqStoreInvalid) rather than restarting at 1", () => {
    writeFileSync(path, "seven\n");
    const store = new FileSeqStore(path);
    let caught: unknown;
    try {
      store.start();
    } catch (error) {
      caught = error;
    }
    expect(isTapwireError(caught, ErrorCode.SeqStoreInvalid)).toBe(true);
  });
});
