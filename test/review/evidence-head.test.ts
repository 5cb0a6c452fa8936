import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { evidenceSchema } from "../../broker/evidence/evidence-schema.ts";
import { EvidenceStore, evidenceRowHash, genesisHash, type ChainHeadPolicy, type EvidenceRow } from "../../broker/evidence/evidence-store.ts";
import { sha256 } from "../../protocol/bytes.ts";
import { openSqliteDb, type SqliteDb } from "../../broker/ledger/sqlite-db.ts";
import { ManualClock } from "../../core/sources.ts";

const clock = new ManualClock();
let dir: string;
let db: SqliteDb;

function open(): SqliteDb {
  return openSqliteDb({ path: join(dir, "evidence.sqlite"), components: [evidenceSchema], clock });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tapwire-evidence-head-"));
  db = open();
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function append(store: EvidenceStore, requestId: string): EvidenceRow {
  return store.append("request", "hubs/h1", requestId, new TextEncoder().encode(requestId), clock.nowMs());
}

/** What the evidence verifier checks of the chain: seq 1, 2, 3…, each row bound to the one before. */
function chainOf(store: EvidenceStore): { requestIds: string[]; intact: boolean } {
  const rows = store.page(0, 100);
  let previous: Uint8Array = genesisHash;
  let intact = true;
  rows.forEach((row, index) => {
    const hashes = Buffer.compare(row.bytesHash, sha256(row.bytes)) === 0 && Buffer.compare(row.rowHash, evidenceRowHash(row)) === 0;
    intact &&= row.seq === index + 1 && Buffer.compare(row.prevHash, previous) === 0 && hashes;
    previous = row.rowHash;
  });
  return { requestIds: rows.map((r) => r.requestId), intact };
}

class Rollback extends Error {}

function rolledBack(work: () => void): void {
  expect(() => work()).toThrow(Rollback);
}

// SQLite reads the head by default; PostgreSQL's policy, `guess`, is tested here against the same rollbacks.
describe.each<ChainHeadPolicy>(["read", "guess"])("evidence chain head, policy %s", (policy) => {
  let store: EvidenceStore;
  beforeEach(() => {
    store = new EvidenceStore(db, policy);
  });

  it("links the next row to the committed head after a whole transaction rolls back", () => {
    append(store, "r1");

    rolledBack(() =>
      db.transaction(() => {
        append(store, "lost-1");
        append(store, "lost-2");
        throw new Rollback();
      }).immediate(),
    );
    append(store, "r2");

    expect(chainOf(store)).toEqual({ requestIds: ["r1", "r2"], intact: true });
  });

  it("links the next row to what survived a rolled-back savepoint inside a transaction", () => {
    db.transaction(() => {
      append(store, "r1");
      rolledBack(() =>
        db.transaction(() => {
          append(store, "lost");
          throw new Rollback();
        })(),
      );
      append(store, "r2");
    }).immediate();

    expect(chainOf(store)).toEqual({ requestIds: ["r1", "r2"], intact: true });
  });

  it("links to rows another connection appended since (another process on the same file)", () => {
    const otherDb = open();
    const other = new EvidenceStore(otherDb, policy);
    try {
      append(store, "r1");
      append(other, "r2");
      append(store, "r3");
      append(other, "r4");
      append(store, "r5");
    } finally {
      otherDb.close();
    }

    expect(chainOf(store)).toEqual({ requestIds: ["r1", "r2", "r3", "r4", "r5"], intact: true });
  });

  it("links a request and its decision to each other, after a rollback and between another connection's rows", () => {
    const otherDb = open();
    const other = new EvidenceStore(otherDb, policy);
    const bytes = (text: string) => new TextEncoder().encode(text);
    try {
      const [request, decision] = store.appendRequestAndDecision("hubs/h1", "p1", bytes("req-1"), bytes("dec-1"), clock.nowMs());
      expect([request.kind, decision.kind, decision.prevHash]).toEqual(["request", "decision", request.rowHash]);
      rolledBack(() =>
        db.transaction(() => {
          store.appendRequestAndDecision("hubs/h1", "lost", bytes("req-lost"), bytes("dec-lost"), clock.nowMs());
          throw new Rollback();
        }).immediate(),
      );
      append(other, "r2");
      store.appendRequestAndDecision("hubs/h1", "p3", bytes("req-3"), bytes("dec-3"), clock.nowMs());
    } finally {
      otherDb.close();
    }

    expect(chainOf(store)).toEqual({ requestIds: ["p1", "p1", "r2", "p3", "p3"], intact: true });
    expect(store.page(0, 100).map((row) => new TextDecoder().decode(row.bytes))).toEqual(["req-1", "dec-1", "r2", "req-3", "dec-3"]);
  });

  it("starts the chain at the genesis hash and keeps it intact over many appends", () => {
    const rows = ["r1", "r2", "r3"].map((id) => append(store, id));

    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(rows[0]!.prevHash).toEqual(genesisHash);
    expect(chainOf(store)).toEqual({ requestIds: ["r1", "r2", "r3"], intact: true });
  });
});
