import { describe, expect, it } from "vitest";
import { Batcher, syncingBatchesMax, type BatchWork } from "../../broker/settlement/batcher.ts";
import type { Admission } from "../../broker/settlement/admission.ts";
import type { PrecheckJob, PrecheckResult } from "../../broker/settlement/prechecks.ts";
import { StorageWatch } from "../../broker/settlement/storage-faults.ts";
import { resolveSettlementOptions } from "../../broker/settlement/options.ts";
import type { Inbound } from "../../broker/decisions/verdicts.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { ManualClock } from "../../core/sources.ts";
import { generateP256 } from "../../protocol/keys.ts";

/**
 * The batcher's drain order with signature checks still running on workers: the pool here is a set of promises the
 * test settles by hand, so which message is "still being checked" is exact. Admission finds no such hub and refuses
 * each message; the batches it commits are what the test reads.
 */
function rig(synced: BatchWork["synced"] = () => Promise.resolve(), providers?: BatchWork["providers"]) {
  const clock = new ManualClock();
  const checks = new Map<string, () => void>();
  const batches: string[][] = [];
  /** One entry per readTogether call. */
  const readsTogether: number[] = [];
  const work: BatchWork = {
    ...(providers ? { providers } : {}),
    admission: {
      registry: {
        getActiveHub: (hubId: string) => {
          throw new TapwireError(`no hub ${hubId}`, ErrorCode.UnknownHub);
        },
      },
    } as unknown as BatchWork["admission"],
    prechecks: {
      jobs: { jobFor: (inbound: Inbound): PrecheckJob => ({ bytes: inbound.payload, hubId: inbound.id, hubKeyPem: "" }) },
      pool: {
        submit: (job: PrecheckJob) =>
          new Promise<PrecheckResult>((resolve) => checks.set(Buffer.from(job.bytes).toString(), () => resolve({}))),
      },
    } as unknown as BatchWork["prechecks"],
    commitBatch: (admitted: readonly Admission[]) => {
      batches.push(admitted.map((admission) => `${admission.summary.requestId ?? "?"}`));
      return admitted.map(() => []);
    },
    synced,
    readTogether: (read) => {
      readsTogether.push(0);
      return read();
    },
    answerer: {} as BatchWork["answerer"],
  };
  // The production bounds, as the service resolves them.
  const { queueMax, queuedPerSenderMax, queueWaitMsMax, batchMax } = resolveSettlementOptions({ databasePath: ":memory:", serviceKey: generateP256().privateKey, clock });
  const crashes: unknown[] = [];
  const batcher = new Batcher({ queueMax, queuedPerSenderMax, queueWaitMsMax, batchMax, clock, onCrash: (error) => crashes.push(error) }, new StorageWatch(clock));
  batcher.start(work);
  const send = (hubId: string, label: string) => batcher.handle({ kind: "hub", id: hubId, payload: Buffer.from(label) }).then(() => label);
  const committed = () => batches.flat();
  return { checks, batches, send, committed, batcher, crashes, readsTogether };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("Batcher drain order while signatures are checked on workers", () => {
  it("commits another sender's checked message without waiting for a message still being checked", async () => {
    const { checks, send, committed } = rig();
    const a1 = send("h1", "a1");
    const b1 = send("h2", "b1");
    checks.get("b1")!();

    await expect(b1).resolves.toBe("b1");
    expect(committed()).toHaveLength(1);
    checks.get("a1")!();
    await expect(a1).resolves.toBe("a1");
    expect(committed()).toHaveLength(2);
  });

  it("keeps one sender's messages in arrival order: a checked later message waits for its sender's earlier one", async () => {
    const { checks, send, batches } = rig();
    const order: string[] = [];
    const sent = ["a1", "a2"].map((label) => send("h1", label).then((done) => order.push(done)));
    checks.get("a2")!();
    await turn();
    await turn();

    expect(order).toEqual([]);
    checks.get("a1")!();
    await Promise.all(sent);
    expect(order).toEqual(["a1", "a2"]);
    expect(batches).toHaveLength(1);
  });
});

describe("Batcher commit counts", () => {
  it("counts each committed batch and the messages in it", async () => {
    const { checks, send, batches, batcher } = rig();
    const together = ["a1", "b1", "c1"].map((label, index) => send(`h${index + 1}`, label));
    for (const label of ["a1", "b1", "c1"]) checks.get(label)!();
    await Promise.all(together);
    const alone = send("h1", "a2");
    checks.get("a2")!();
    await alone;

    expect(batches.map((batch) => batch.length)).toEqual([3, 1]);
    expect(batcher.commitCounts).toEqual({ batches: 2, messages: 4 });
  });
});

describe("Batcher answers a batch only once its commit is on disk", () => {
  /** Each batch's sync, ended or failed by the test. */
  function heldSyncs() {
    const syncs: Array<{ end: () => void; fail: (error: Error) => void }> = [];
    const synced = () => new Promise<void>((resolve, reject) => syncs.push({ end: resolve, fail: reject }));
    return { syncs, synced };
  }

  it("holds the answers until the sync ends, and commits the next batch meanwhile", async () => {
    const { syncs, synced } = heldSyncs();
    const { checks, send, batches } = rig(synced);
    const answered: string[] = [];
    const a1 = send("h1", "a1").then((label) => answered.push(label));
    checks.get("a1")!();
    await turn();
    await turn();
    expect(batches).toHaveLength(1);
    expect(syncs).toHaveLength(1);
    const b1 = send("h2", "b1").then((label) => answered.push(label));
    checks.get("b1")!();
    await turn();
    await turn();
    expect(batches).toHaveLength(2);
    expect(answered).toEqual([]);
    syncs[0]!.end();
    await a1;
    expect(answered).toEqual(["a1"]);
    syncs[1]!.end();
    await b1;
    expect(answered).toEqual(["a1", "b1"]);
  });

  it("stops closing only after the last sync, and a sync the disk refused crashes the service with nothing answered", async () => {
    const { syncs, synced } = heldSyncs();
    const { checks, send, batcher, crashes } = rig(synced);
    let answered = false;
    void send("h1", "a1").then(() => (answered = true));
    checks.get("a1")!();
    await turn();
    await turn();
    let closed = false;
    void batcher.close().then(() => (closed = true));
    await turn();
    expect(closed).toBe(false);
    const refused = Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
    syncs[0]!.fail(refused);
    await turn();
    expect(crashes).toEqual([refused]);
    expect(closed).toBe(true);
    expect(answered).toBe(false);
  });

  it("commits no more batches while syncingBatchesMax wait for the disk, and goes on when a sync ends", async () => {
    const { syncs, synced } = heldSyncs();
    const { checks, send, batches } = rig(synced);
    const sent: Array<Promise<string>> = [];
    for (let index = 0; index <= syncingBatchesMax; index += 1) {
      const label = `h${index}`;
      sent.push(send(label, label));
      checks.get(label)!();
      await turn();
      await turn();
    }
    expect(batches).toHaveLength(syncingBatchesMax);
    syncs[0]!.end();
    await sent[0];
    await turn();
    expect(batches).toHaveLength(syncingBatchesMax + 1);
    for (const sync of syncs.slice(1)) sync.end();
    await Promise.all(sent);
  });
});

describe("Batcher looks up what arrives in one turn together", () => {
  it("asks the provider stage about one turn's messages inside one readTogether, and admits a batch inside one", async () => {
    const prepared: string[] = [];
    const providers = {
      prepare: (inbound: Inbound) => {
        prepared.push(Buffer.from(inbound.payload).toString());
        return undefined;
      },
      settled: () => undefined,
      flushNotices: () => undefined,
    } as unknown as BatchWork["providers"];
    const { checks, send, batches, readsTogether } = rig(undefined, providers);
    const sent = ["a1", "b1", "c1"].map((label, index) => send(`h${index}`, label));
    expect(prepared).toEqual([]);
    await turn();
    expect(prepared).toEqual(["a1", "b1", "c1"]);
    expect(readsTogether).toHaveLength(1);
    for (const label of ["a1", "b1", "c1"]) checks.get(label)!();
    await Promise.all(sent);
    expect(batches.flat()).toHaveLength(3);
    // One more for the batch's admissions.
    expect(readsTogether).toHaveLength(1 + batches.length);
  });
});
