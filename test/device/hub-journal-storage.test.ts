import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { VirtualClock } from "../../core/sources.ts";
import { HubJournal } from "../../device/journal/hub-journal.ts";
import { codeOf, decided, envelopeBytes, seal } from "./journal-fixtures.ts";
import { frameHeaderBytes, walHeaderBytes, walPageBytes } from "../support/sqlite-wal.ts";

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).reverse().forEach((cleanup) => cleanup()));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tapwire-journal-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(path: string, clock = new VirtualClock()): HubJournal {
  const journal = HubJournal.open({ path, clock });
  cleanups.push(() => journal.close());
  return journal;
}

/**
 * Read-only as the hub's process sees it: permission bits, and for root (who ignores them) the immutable flag.
 * Returns false where neither holds (root without CAP_LINUX_IMMUTABLE), and the test is skipped.
 */
function makeReadOnly(...paths: string[]): boolean {
  for (const path of paths) chmodSync(path, statSync(path).isDirectory() ? 0o555 : 0o444);
  cleanups.push(() => paths.forEach((path) => chmodSync(path, statSync(path).isDirectory() ? 0o755 : 0o644)));
  if (process.getuid?.() !== 0) return true;
  try {
    execFileSync("chattr", ["+i", ...paths], { stdio: "ignore" });
  } catch {
    return false;
  }
  cleanups.push(() => execFileSync("chattr", ["-i", ...paths], { stdio: "ignore" }));
  return true;
}

describe("hub journal: storage faults are JournalUnavailable", () => {
  it("a path in a directory that does not exist", () => {
    const dir = tempDir();
    expect(codeOf(() => open(join(dir, "missing", "journal.sqlite")))).toBe(ErrorCode.JournalUnavailable);
  });

  it("a journal file and directory made read-only", (context) => {
    const dir = tempDir();
    const path = join(dir, "journal.sqlite");
    const clock = new VirtualClock();
    const first = open(path, clock);
    seal(first, clock, "payment", "r1", "s1");
    first.close();
    if (!makeReadOnly(path, dir)) context.skip();

    expect(codeOf(() => open(path, clock))).toBe(ErrorCode.JournalUnavailable);
  });

  it.each([
    ["deleted", (path: string) => unlinkSync(path)],
    [
      "replaced by another file",
      (path: string) => {
        writeFileSync(`${path}.other`, "not a journal");
        renameSync(`${path}.other`, path);
      },
    ],
  ])("a journal whose file was %s under it refuses the next write (it would be lost at the next start)", (_, fault) => {
    const dir = tempDir();
    const path = join(dir, "journal.sqlite");
    const clock = new VirtualClock();
    const journal = open(path, clock);
    seal(journal, clock, "payment", "r1", "s1");
    fault(path);

    expect(codeOf(() => seal(journal, clock, "payment", "r2", "s2"))).toBe(ErrorCode.JournalUnavailable);
    expect(codeOf(() => journal.recordDecision("r1", decided("approved"), { outcome: "approved", code: 0 }))).toBe(ErrorCode.JournalUnavailable);
  });

  it("a file that is not a journal", () => {
    const dir = tempDir();
    const path = join(dir, "journal.sqlite");
    writeFileSync(path, Buffer.alloc(8_192, 0x5a));
    expect(codeOf(() => open(path))).toBe(ErrorCode.JournalUnavailable);
  });
});

interface TornCopy {
  path: string;
  wal: Buffer;
  frameBytes: number;
}

/**
 * Journals `count` payments into a file-backed journal and copies its database and WAL while it is still open, as
 * a power cut would leave them (nothing checkpointed). Every request is one transaction; the last one's frames
 * end the WAL.
 */
function crashCopy(count: number): TornCopy {
  const dir = tempDir();
  const path = join(dir, "journal.sqlite");
  const clock = new VirtualClock();
  const journal = open(path, clock);
  for (let index = 1; index <= count; index++) seal(journal, clock, "payment", `r${index}`, `s${index}`);
  const copy = join(dir, "after-power-cut.sqlite");
  copyFileSync(path, copy);
  copyFileSync(`${path}-wal`, `${copy}-wal`);
  const wal = readFileSync(`${copy}-wal`);
  return { path: copy, wal, frameBytes: frameHeaderBytes + walPageBytes(wal) };
}

function expectFirstWritesIntact(journal: HubJournal, count: number): void {
  for (let index = 1; index <= count; index++) {
    expect(journal.findRequest(`r${index}`)).toMatchObject({ seq: index, state: "open", payload: envelopeBytes(`r${index}`, index) });
    expect(journal.sale(`s${index}`)!.outcome).toBe("pending");
  }
}

describe("hub journal: a torn last write reads as if it never happened", () => {
  const written = 5;

  it("reads every write back from an intact copy (the baseline the torn ones are compared with)", () => {
    const torn = crashCopy(written);
    expect((torn.wal.length - walHeaderBytes) % torn.frameBytes).toBe(0);
    const journal = open(torn.path);

    expectFirstWritesIntact(journal, written);
    expect(journal.lastSeq).toBe(written);
  });

  it.each([
    ["the WAL is a few bytes short", (torn: TornCopy) => truncateSync(`${torn.path}-wal`, torn.wal.length - 7)],
    ["the WAL is cut in the middle of the last frame", (torn: TornCopy) => truncateSync(`${torn.path}-wal`, torn.wal.length - torn.frameBytes / 2)],
    [
      "a byte of the last frame is flipped",
      (torn: TornCopy) => {
        const bytes = Buffer.from(torn.wal);
        const at = bytes.length - Math.floor(torn.frameBytes / 3);
        bytes[at] = bytes[at]! ^ 0xff;
        writeFileSync(`${torn.path}-wal`, bytes);
      },
    ],
  ])("%s: the last request is gone, its seq unspent, every earlier one exactly as written", (_, tear) => {
    const torn = crashCopy(written);
    tear(torn);
    const clock = new VirtualClock();
    const journal = open(torn.path, clock);

    expect(journal.findRequest(`r${written}`)).toBeUndefined();
    expect(journal.sale(`s${written}`)).toBeUndefined();
    expectFirstWritesIntact(journal, written - 1);
    expect(journal.lastSeq).toBe(written - 1);
    expect(journal.openRequests().map((r) => r.requestId)).toEqual(["r1", "r2", "r3", "r4"]);
    expect(seal(journal, clock, "payment", "r-next", "s-next").seq).toBe(written);
  });
});

interface Totals {
  n: number;
  bytes: number;
  sales: number;
}

describe("hub journal: the room totals the database keeps", () => {
  /** What checkRoom reads, and a recount of the rows it stands for. */
  function totals(path: string): { kept: Totals; recount: Totals } {
    const db = new Database(path, { readonly: true });
    try {
      const kept = db
        .prepare(
          "SELECT (SELECT value FROM meta WHERE key = 'open_requests') AS n, (SELECT value FROM meta WHERE key = 'bytes_total') AS bytes, (SELECT value FROM meta WHERE key = 'sales_total') AS sales",
        )
        .get() as { n: number; bytes: number; sales: number };
      const recount = db
        .prepare(
          "SELECT count(*) FILTER (WHERE kind != 'capture' AND state = 'open') AS n, coalesce(sum(bytes), 0) AS bytes, (SELECT count(*) FROM sales) AS sales FROM requests",
        )
        .get() as { n: number; bytes: number; sales: number };
      return { kept, recount };
    } finally {
      db.close();
    }
  }

  it("match a recount after seals, decisions, superseding reversals and pruning", () => {
    const path = join(tempDir(), "journal.sqlite");
    const clock = new VirtualClock();
    const journal = HubJournal.open({ path, clock, limits: { retentionMs: 60_000 } });
    for (let index = 1; index <= 6; index += 1) seal(journal, clock, "payment", `r${index}`, `s${index}`, { sizeBytes: 100 * index });
    journal.recordDecision("r1", decided("approved"), { outcome: "approved", code: 0 });
    journal.recordDecision("r2", decided("declined", ErrorCode.InsufficientFunds), { outcome: "declined", code: ErrorCode.InsufficientFunds });
    seal(journal, clock, "reversal", "v3", "s3", { targetRequestId: "r3", supersedes: "r3" });
    clock.advance(120_000);
    expect(journal.prune()).toBe(2);
    journal.close();

    const { kept, recount } = totals(path);
    expect(kept).toEqual(recount);
    expect(recount).toMatchObject({ n: 4, sales: 4 });
  });

  it("a journal written before them (schema 1) starts with them right, and its bounds still hold", () => {
    const path = join(tempDir(), "journal.sqlite");
    const clock = new VirtualClock();
    const first = HubJournal.open({ path, clock });
    seal(first, clock, "payment", "r1", "s1", { sizeBytes: 700 });
    seal(first, clock, "payment", "r2", "s2", { sizeBytes: 500 });
    first.close();
    // Back to what a hub updated from an older release has on its disk.
    const db = new Database(path);
    db.exec("DROP TRIGGER requests_totals_insert; DROP TRIGGER requests_totals_update; DROP TRIGGER requests_totals_delete; DROP TRIGGER sales_total_insert; DROP TRIGGER sales_total_delete; DELETE FROM meta WHERE key != 'seq_last'; PRAGMA user_version = 1;");
    db.close();

    const reopened = HubJournal.open({ path, clock, limits: { bytesMax: 1_000 } });
    cleanups.push(() => reopened.close());
    expect(codeOf(() => seal(reopened, clock, "payment", "r3", "s3"))).toBe(ErrorCode.JournalFull);
    const { kept, recount } = totals(path);
    expect(kept).toEqual({ n: 2, bytes: recount.bytes, sales: 2 });
    expect(recount.bytes).toBeGreaterThanOrEqual(1_200);
  });
});
