import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Tag } from "cbor-x";
import { structCodec } from "../../protocol/cbor.ts";
import { coseSign1Tag, headerAlg, signSign1 } from "../../protocol/cose.ts";
import { readEnvelope } from "../../protocol/envelope.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { generateP256, publicKeyPem } from "../../protocol/keys.ts";
import type { HceCredential } from "../../protocol/messages.ts";
import { admit } from "../../broker/settlement/admission.ts";
import { PublicKeyCache } from "../../broker/registry/public-keys.ts";
import { PrecheckJobs, Prechecked, inlineChecks, runPrecheck } from "../../broker/settlement/prechecks.ts";
import { VerifyPool } from "../../broker/settlement/verify-pool.ts";
import { SettlementFixture } from "./fixtures.ts";

/** Workers load in the background (tsx included) on real threads: poll the pool's own count, bounded. */
async function readyWorkers(pool: VerifyPool, count: number): Promise<void> {
  await vi.waitFor(() => expect(pool.workersReady).toBe(count), { timeout: 15_000, interval: 10 });
}

/** Whatever `action` returns, or the code of the TapwireError it throws. */
function outcome(action: () => unknown): { value: unknown } | { code: number; message: string } {
  try {
    return { value: action() };
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return { code: error.code, message: error.message };
  }
}

function badCryptogram(credential: HceCredential): HceCredential {
  const cryptogram = new Uint8Array(credential.cryptogram);
  cryptogram[5] = cryptogram[5]! ^ 0xff;
  return { ...credential, cryptogram };
}

describe("prechecks answer exactly as the inline checks", () => {
  let f: SettlementFixture;
  beforeAll(async () => {
    f = await SettlementFixture.create({ fundMinor: 100_000, service: { verifyWorkers: 0 } });
  });
  afterAll(() => f.close());

  /** Admission and the cryptogram check, inline and from a precheck: same payload, same code, same message. */
  function compare(bytes: Uint8Array): void {
    const registry = f.service.registry;
    const inbound = { kind: "hub" as const, id: f.hub.hubId, payload: bytes };
    const job = new PrecheckJobs(registry).jobFor(inbound);
    const checks = job ? new Prechecked(job, runPrecheck(job, new PublicKeyCache(8))) : inlineChecks;
    const deps = { registry, agents: f.service.agents, mandates: { findMandate: () => undefined } as never };
    const inline = admit(inbound, deps, inlineChecks);
    const prechecked = admit(inbound, deps, checks);
    expect({ ...prechecked, checks: undefined }).toEqual({ ...inline, checks: undefined });
    if (inline.outcome === "refused" && prechecked.outcome === "refused") expect(prechecked.error.code).toBe(inline.error.code);
    if (inline.outcome !== "hub_request" || inline.request.type !== "payment_request" || inline.request.payer.kind !== "hce") return;
    const payer = inline.request.payer;
    const wallet = registry.getWallet(payer.walletId);
    const input = { walletId: wallet.walletId, hubId: f.hub.hubId, amountMinor: inline.request.amountMinor, currency: inline.request.currency, unpredictableNumber: payer.unpredictableNumber, atc: payer.atc };
    const key = registry.walletPublicKey(wallet);
    expect(outcome(() => checks.verifyCryptogram(input, payer.cryptogram, key, wallet.publicKeyPem))).toEqual(
      outcome(() => inlineChecks.verifyCryptogram(input, payer.cryptogram, key, wallet.publicKeyPem)),
    );
  }

  it("agrees on a good payment, a forged one, a bad cryptogram, garbage and a wrong algorithm", () => {
    const good = f.hub.paymentRequest(f.wallet, 100);
    compare(good.bytes);
    const forged = Buffer.from(good.bytes);
    forged[forged.length - 3] = forged[forged.length - 3]! ^ 0x01;
    compare(forged);
    compare(f.hub.paymentRequest(f.wallet, 100, { payer: badCryptogram(f.wallet.hceCredential(f.hub.hubId, 100, f.currency)) }).bytes);
    compare(f.hub.paymentRequest(f.wallet, 100, { payer: { ...f.wallet.hceCredential(f.hub.hubId, 100, f.currency), cryptogram: new Uint8Array(10) } }).bytes);
    compare(f.hub.paymentRequest(f.wallet, 100, { amountMinor: -5 }).bytes);
    compare(new Uint8Array([0xa1, 0x01, 0x02]));
    compare(f.hub.seal({ type: "refund", nonsense: true }));
    const parts = readEnvelope(good.bytes);
    compare(signSign1(parts.payload, generateP256().privateKey));
    const es384 = structCodec.encode(new Map([[headerAlg, -35]]));
    compare(structCodec.encode(new Tag([es384, new Map(), parts.payload, parts.signature], coseSign1Tag)));
    compare(structCodec.encode(new Tag([parts.protectedBytes, new Map(), parts.payload, parts.signature.subarray(0, 63)], coseSign1Tag)));
  });

  it("a verdict for other bytes or another key is not used: the check runs inline", () => {
    const good = f.hub.paymentRequest(f.wallet, 100);
    const job = new PrecheckJobs(f.service.registry).jobFor({ kind: "hub", id: f.hub.hubId, payload: good.bytes });
    expect(job?.payer?.walletId).toBe(f.wallet.walletId);
    // A lying verdict: it says the envelope and the cryptogram are fine whatever they are.
    const lying = new Prechecked(job!, { envelope: { ok: true }, payer: { ...runPrecheck(job!, new PublicKeyCache(8)).payer!, outcome: { ok: true } } });
    const otherKeys = generateP256();
    const forgedBytes = signSign1(readEnvelope(good.bytes).payload, otherKeys.privateKey);
    const forgedParts = readEnvelope(forgedBytes);
    const hubKey = f.service.registry.hubPublicKey(f.service.registry.getHub(f.hub.hubId));
    const hubPem = publicKeyPem(f.hub.keys.publicKey);
    expect(outcome(() => lying.verifyEnvelope(forgedBytes, forgedParts, hubKey, hubPem))).toMatchObject({ code: ErrorCode.BadSignature });
    expect(outcome(() => lying.verifyEnvelope(good.bytes, readEnvelope(good.bytes), otherKeys.publicKey, publicKeyPem(otherKeys.publicKey)))).toMatchObject({
      code: ErrorCode.BadSignature,
    });
    const credential = badCryptogram(f.wallet.hceCredential(f.hub.hubId, 100, f.currency));
    const input = { walletId: f.wallet.walletId, hubId: f.hub.hubId, amountMinor: 100, currency: f.currency, unpredictableNumber: credential.unpredictableNumber, atc: credential.atc };
    const walletKey = f.wallet.keys.publicKey;
    expect(outcome(() => lying.verifyCryptogram(input, credential.cryptogram, walletKey, publicKeyPem(walletKey)))).toMatchObject({
      code: ErrorCode.PayerCredentialInvalid,
    });
  });

  it("no job for messages that are not hub requests or whose hub is unknown", () => {
    const jobs = new PrecheckJobs(f.service.registry);
    const bytes = f.hub.paymentRequest(f.wallet, 100).bytes;
    expect(jobs.jobFor({ kind: "wallet", id: f.wallet.walletId, payload: bytes })).toBeUndefined();
    expect(jobs.jobFor({ kind: "hub", id: "nobody", payload: bytes })).toBeUndefined();
    expect(jobs.jobFor({ kind: "hub", id: f.hub.hubId, payload: new Uint8Array([1, 2, 3]) })).toBeUndefined();
  });
});

describe("VerifyPool", () => {
  const dir = mkdtempSync(join(tmpdir(), "tapwire-verify-pool-"));
  /** Test worker entries in plain JavaScript: one that dies on its first job, one that never answers. */
  const crashing = join(dir, "crashing-worker.mjs");
  const silent = join(dir, "silent-worker.mjs");
  writeFileSync(
    crashing,
    `import { parentPort } from "node:worker_threads";
parentPort.on("message", () => { throw new Error("worker bug"); });
parentPort.postMessage({ type: "ready" });
`,
  );
  writeFileSync(silent, `import { parentPort } from "node:worker_threads";\nparentPort.on("message", () => {});\nparentPort.postMessage({ type: "ready" });\n`);
  let f: SettlementFixture;
  beforeAll(async () => {
    f = await SettlementFixture.create({ service: { verifyWorkers: 0 } });
  });
  afterAll(async () => {
    await f.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function job() {
    const bytes = f.hub.paymentRequest(f.wallet, 100).bytes;
    return new PrecheckJobs(f.service.registry).jobFor({ kind: "hub", id: f.hub.hubId, payload: bytes })!;
  }

  it("checks jobs on real workers, declines beyond jobsQueuedMax, and fails what is queued at stop", async () => {
    const pool = new VerifyPool({ size: 2, jobsQueuedMax: 3 });
    expect(pool.submit(job())).toBeUndefined();
    pool.start();
    await readyWorkers(pool, 2);
    const results = [pool.submit(job()), pool.submit(job()), pool.submit(job())];
    expect(pool.submit(job())).toBeUndefined();
    for (const result of await Promise.all(results)) {
      expect(result?.envelope).toEqual({ ok: true });
      expect(result?.payer?.outcome).toEqual({ ok: true });
    }
    expect(pool.jobsQueued).toBe(0);
    const pending = expect(pool.submit(job())).rejects.toMatchObject({ code: ErrorCode.ServiceUnavailable });
    await pool.stop();
    await pending;
    expect(pool.submit(job())).toBeUndefined();
  });

  it("gives each job of one turn the verdict on its own bytes (one message carries them all)", async () => {
    const pool = new VerifyPool({ size: 1, jobsQueuedMax: 8 });
    pool.start();
    try {
      await readyWorkers(pool, 1);
      const forged = job();
      forged.bytes[forged.bytes.length - 3]! ^= 0x01;
      const results = await Promise.all([job(), forged, job()].map((each) => pool.submit(each)));

      expect(results.map((result) => result?.envelope?.ok)).toEqual([true, false, true]);
      expect(results[1]?.envelope).toMatchObject({ code: ErrorCode.BadSignature });
    } finally {
      await pool.stop();
    }
  });

  it("gathers jobs submitted in separate turns into one message, posted once it holds gatherJobsMax", async () => {
    // A gather far longer than the test, so only the job count can post the message: turns may take any time here.
    // The pool's time stands still, so every job after the first comes within the gather of the one before.
    const gatherJobsMax = 4;
    const pool = new VerifyPool({ size: 1, jobsQueuedMax: 8, gatherMs: 600_000, gatherJobsMax, nowMs: () => 0 });
    pool.start();
    try {
      await readyWorkers(pool, 1);
      const first = pool.submit(job());
      await new Promise((resolve) => setImmediate(resolve));
      expect(pool.messagesPosted).toBe(1);
      const forged = job();
      forged.bytes[forged.bytes.length - 3]! ^= 0x01;
      const results: Array<Promise<unknown> | undefined> = [];
      for (const each of [job(), forged, job()]) {
        results.push(pool.submit(each));
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(pool.messagesPosted).toBe(1);
      results.push(pool.submit(job()));
      expect(pool.messagesPosted).toBe(2);
      const verdicts = (await Promise.all([first, ...results])) as Array<{ envelope?: { ok: boolean } } | undefined>;
      expect(verdicts.map((verdict) => verdict?.envelope?.ok)).toEqual([true, true, false, true, true]);
      expect(pool.messagesPosted).toBe(2);
    } finally {
      await pool.stop();
    }
  });

  it("with gatherMs 0 posts the jobs of one turn together at the end of that turn, waiting for no timer", async () => {
    const pool = new VerifyPool({ size: 1, jobsQueuedMax: 8, gatherMs: 0 });
    pool.start();
    try {
      await readyWorkers(pool, 1);
      const forged = job();
      forged.bytes[forged.bytes.length - 3]! ^= 0x01;
      const results = [pool.submit(job()), pool.submit(forged)];
      expect(pool.messagesPosted).toBe(0);
      // The pool's immediate was queued at the first submit, so it has run once this one has.
      await new Promise((resolve) => setImmediate(resolve));
      expect(pool.messagesPosted).toBe(1);
      results.push(pool.submit(job()));
      await new Promise((resolve) => setImmediate(resolve));
      expect(pool.messagesPosted).toBe(2);
      const verdicts = (await Promise.all(results)) as Array<{ envelope?: { ok: boolean } } | undefined>;
      expect(verdicts.map((verdict) => verdict?.envelope?.ok)).toEqual([true, false, true]);
    } finally {
      await pool.stop();
    }
  });

  it("posts a job that comes after a quiet spell at the end of its turn, and gathers one that comes within gatherMs of the last", async () => {
    // Time as the pool reads it is set by the test; the gather itself is far longer than the test, so only the end of a
    // turn or the job count can post a message.
    let nowMs = 1_000;
    const gatherMs = 600_000;
    const pool = new VerifyPool({ size: 1, jobsQueuedMax: 8, gatherMs, gatherJobsMax: 2, nowMs: () => nowMs });
    const turnEnded = () => new Promise((resolve) => setImmediate(resolve));
    pool.start();
    try {
      await readyWorkers(pool, 1);
      const results = [pool.submit(job())];
      await turnEnded();
      expect(pool.messagesPosted).toBe(1);
      nowMs += gatherMs - 1;
      results.push(pool.submit(job()));
      await turnEnded();
      expect(pool.messagesPosted).toBe(1);
      results.push(pool.submit(job()));
      expect(pool.messagesPosted).toBe(2);
      nowMs += gatherMs;
      results.push(pool.submit(job()));
      await turnEnded();
      expect(pool.messagesPosted).toBe(3);
      const verdicts = (await Promise.all(results)) as Array<{ envelope?: { ok: boolean } } | undefined>;
      expect(verdicts.map((verdict) => verdict?.envelope?.ok)).toEqual([true, true, true, true]);
    } finally {
      await pool.stop();
    }
  });

  it("stopping fails the jobs still gathering, and their message is never posted", async () => {
    const pool = new VerifyPool({ size: 1, jobsQueuedMax: 8, gatherMs: 600_000 });
    pool.start();
    await readyWorkers(pool, 1);
    const gathering = expect(pool.submit(job())).rejects.toMatchObject({ code: ErrorCode.ServiceUnavailable });
    await pool.stop();
    await gathering;
    expect(pool.messagesPosted).toBe(0);
  });

  it("a crashing worker fails its jobs with ServiceUnavailable and is replaced, a bounded number of times", async () => {
    const options = { size: 1, jobsQueuedMax: 8, workerUrl: pathToFileURL(crashing), respawnDelayMsMin: 10, respawnDelayMsMax: 10 };
    const pool = new VerifyPool({ ...options, respawnsMax: 1 });
    // The same pool allowed one replacement more shows when a replacement would be ready: no wall-clock guess.
    const control = new VerifyPool({ ...options, respawnsMax: 2 });
    pool.start();
    control.start();
    try {
      for (let attempt = 0; attempt < 2; attempt += 1) {
        for (const each of [pool, control]) {
          await readyWorkers(each, 1);
          const settled = await Promise.allSettled([each.submit(job()), each.submit(job())]);
          for (const check of settled) expect(check).toMatchObject({ status: "rejected", reason: { code: ErrorCode.ServiceUnavailable } });
          expect(each.jobsQueued).toBe(0);
        }
      }
      await readyWorkers(control, 1);
      // Past respawnsMax the slot stays empty: jobs are declined, so the caller checks them inline.
      expect(pool.workersReady).toBe(0);
      expect(pool.submit(job())).toBeUndefined();
    } finally {
      await pool.stop();
      await control.stop();
    }
  });

  it("a worker that stops answering is replaced after stallTimeoutMs", async () => {
    const pool = new VerifyPool({ size: 1, jobsQueuedMax: 8, workerUrl: pathToFileURL(silent), stallTimeoutMs: 100, respawnDelayMsMin: 10 });
    pool.start();
    try {
      await readyWorkers(pool, 1);
      await expect(pool.submit(job())).rejects.toMatchObject({ code: ErrorCode.ServiceUnavailable });
      await readyWorkers(pool, 1);
    } finally {
      await pool.stop();
    }
  });
});

describe("SettlementService with verify workers", () => {
  it("keeps arrival order: many requests of one hub, checked concurrently, are all approved", async () => {
    // One hub floods on purpose (ordering under concurrent checks is the subject, not admission): its own queue bound
    // is raised to the flood's size.
    const f = await SettlementFixture.create({ fundMinor: 1_000_000, service: { verifyWorkers: 2, batchMax: 16, queuedPerSenderMax: 200 } });
    try {
      await vi.waitFor(() => expect(f.service.verifyWorkersReady).toBe(2), { timeout: 15_000, interval: 10 });
      const requests = Array.from({ length: 200 }, () => f.hub.paymentRequest(f.wallet, 10).bytes);
      const answers = await Promise.all(requests.map((bytes) => f.fromHub(f.hub, bytes)));
      const statuses = answers.map((outbound) => f.open(outbound[0]!.payload).status);
      expect(statuses.every((status) => status === "approved")).toBe(true);
      expect(f.service.ledger.checkInvariants().transfers).toBeGreaterThanOrEqual(200);
    } finally {
      await f.close();
    }
  });

  it("declines forged envelopes and cryptograms with the same codes as inline checks", async () => {
    const f = await SettlementFixture.create({ fundMinor: 100_000, service: { verifyWorkers: 1 } });
    try {
      await vi.waitFor(() => expect(f.service.verifyWorkersReady).toBe(1), { timeout: 15_000, interval: 10 });
      const forged = Buffer.from(f.hub.paymentRequest(f.wallet, 100).bytes);
      forged[forged.length - 3] = forged[forged.length - 3]! ^ 0x01;
      const badPayer = f.hub.paymentRequest(f.wallet, 100, { payer: badCryptogram(f.wallet.hceCredential(f.hub.hubId, 100, f.currency)) });
      const [forgedDecision, badPayerDecision, good] = await Promise.all([
        f.decisionFor(f.hub, forged),
        f.decisionFor(f.hub, badPayer.bytes),
        f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100).bytes),
      ]);
      expect(forgedDecision.code).toBe(ErrorCode.BadSignature);
      expect(badPayerDecision.code).toBe(ErrorCode.PayerCredentialInvalid);
      expect(good.status).toBe("approved");
    } finally {
      await f.close();
    }
  });

  it("a worker crash leaves the requests it held to the main thread: each is answered once, in order, and later ones pass", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tapwire-verify-crash-"));
    const crashing = join(dir, "crashing-worker.mjs");
    // Dies on its first job; its replacement answers every job with "no verdict", so checks run inline.
    const marker = join(dir, "crashed");
    writeFileSync(
      crashing,
      `import { existsSync, writeFileSync } from "node:fs";
import { parentPort } from "node:worker_threads";
parentPort.on("message", ({ jobs }) => {
  if (!existsSync(${JSON.stringify(marker)})) {
    writeFileSync(${JSON.stringify(marker)}, "");
    process.exit(3);
  }
  parentPort.postMessage({ type: "results", results: jobs.map(({ id }) => ({ id, result: {} })) });
});
parentPort.postMessage({ type: "ready" });
`,
    );
    const f = await SettlementFixture.create({ fundMinor: 100_000, service: { verifyWorkers: 1, testingHooks: { verifyWorkerUrl: pathToFileURL(crashing) } } });
    try {
      await vi.waitFor(() => expect(f.service.verifyWorkersReady).toBe(1), { timeout: 15_000, interval: 10 });
      const transfersBefore = f.service.ledger.checkInvariants().transfers;
      const held = f.hub.paymentRequest(f.wallet, 100);
      const next = f.hub.paymentRequest(f.wallet, 100);
      const [heldDecision, nextDecision] = await Promise.all([f.decisionFor(f.hub, held.bytes), f.decisionFor(f.hub, next.bytes)]);
      expect(heldDecision.status).toBe("approved");
      expect(nextDecision.status).toBe("approved");
      expect(f.service.findPayment(f.hub.hubId, held.body.requestId)).toBeDefined();
      expect(f.service.ledger.checkInvariants().transfers).toBe(transfersBefore + 2);
      const forged = f.hub.paymentRequest(f.wallet, 100);
      forged.bytes[forged.bytes.length - 1]! ^= 0xff;
      expect((await f.decisionFor(f.hub, forged.bytes)).code).toBe(ErrorCode.BadSignature);
      await vi.waitFor(() => expect(f.service.verifyWorkersReady).toBe(1), { timeout: 15_000, interval: 10 });
      expect((await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100).bytes)).status).toBe("approved");
    } finally {
      await f.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
