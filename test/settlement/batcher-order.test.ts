import { describe, expect, it } from "vitest";
import { Batcher, type BatchWork } from "../../broker/settlement/batcher.ts";
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
function rig() {
  const clock = new ManualClock();
  const checks = new Map<string, () => void>();
  const batches: string[][] = [];
  const work: BatchWork = {
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
    answerer: {} as BatchWork["answerer"],
  };
  // The production bounds, as the service resolves them.
  const { queueMax, queuedPerSenderMax, queueWaitMsMax, batchMax } = resolveSettlementOptions({ databasePath: ":memory:", serviceKey: generateP256().privateKey, clock });
  const batcher = new Batcher({ queueMax, queuedPerSenderMax, queueWaitMsMax, batchMax, clock, onCrash: (error) => { throw error; } }, new StorageWatch(clock));
  batcher.start(work);
  const send = (hubId: string, label: string) => batcher.handle({ kind: "hub", id: hubId, payload: Buffer.from(label) }).then(() => label);
  const committed = () => batches.flat();
  return { checks, batches, send, committed };
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
