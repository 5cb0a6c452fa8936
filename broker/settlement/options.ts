import type { SyncFile } from "../ledger/wal-sync.ts";
import { hkdfSync, type KeyObject } from "node:crypto";
import type { ProviderTransport } from "../providers/provider-gateway.ts";
import { availableParallelism } from "node:os";
import { contract } from "../../protocol/contract.ts";
import { crashOutside } from "../../core/crash.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { assertInRanges } from "../../core/ranges.ts";
import { systemTimers, type Clock, type Timers } from "../../core/sources.ts";
import type { SchemaComponent } from "../ledger/sqlite-db.ts";
import type { ReviewPolicyOptions } from "../review/risk.ts";
import type { PayerVerifier } from "./payer-verifier.ts";
import { gatherMsDefault, verifyGatherMsMax, verifyWorkersMax } from "./verify-pool.ts";
import { isP256 } from "../../protocol/keys.ts";

export interface SettlementOptions {
  /** SQLite file path, ":memory:" (gone when the service stops), or a postgres:// URL (workers sharing one database). */
  databasePath: string;
  /** The service's P-256 private key; every decision is a COSE_Sign1 made with it. */
  serviceKey: KeyObject;
  clock: Clock;
  /**
   * The 32-byte key-encryption key that wraps every person's data keys (broker/privacy/personal-keys.ts); the
   * settlement node keeps it in its data dir (pki/privacy-kek.bin). Default: derived from serviceKey with HKDF,
   * for a service run without a data dir (tests, the simulator): its personal data lives as long as that key.
   */
  privacyKek?: Uint8Array;
  /** What the periodic sweep (expired cases, pushes, idempotency pruning) waits on. Default: real timers. */
  timers?: Timers;
  /** How long a decision stays valid. Default and minimum: requestLifetimeMsMax + clockSkewMs (see below). */
  decisionTtlMs?: number;
  /**
   * How far ahead of our clock a sender's `iat` may be. Default and minimum: contract.clockSkewMs (30 000 ms);
   * it may be raised, never lowered, or the service would refuse what hubs within the contract send.
   */
  clockSkewMs?: number;
  /** Largest `exp − iat` a request may ask for. Default and minimum: contract.requestLifetimeMsMax (5 min). */
  requestLifetimeMsMax?: number;
  /**
   * Messages waiting for the drain loop; beyond it a request is declined with Overloaded (and a retry-after).
   * Default 2 048: about a second of work at the throughput of a 2-core node, so an admitted request is answered well
   * inside a hub's decision timeout, and the queue's memory is bounded (at most 2 048 × 8 KiB of payloads).
   */
  queueMax?: number;
  /** Messages of one sender (one hub, wallet or agent) waiting at once; more are declined Overloaded. Default 64. */
  queuedPerSenderMax?: number;
  /**
   * The longest an admitted request may expect to wait in the queue, at the rate the service has been committing;
   * past it a request is declined Overloaded. Default 1 000 ms: well inside a hub's decision timeout, whatever the
   * machine's speed (queueMax alone would let a slow node queue many seconds of work).
   */
  queueWaitMsMax?: number;
  /**
   * Messages committed in one transaction (group commit). Default 64: a batch answers once its sync ends, and the
   * main thread sees that only after the batch it is working on next, so smaller batches let answers out sooner
   * (bench, closed loop: 1,940 approved/s at 64 against 1,629–1,735 at 256, the old default chosen when each
   * commit waited for its own fsync).
   */
  batchMax?: number;
  /** How long idempotency records and consumed nonces are kept before pruneIdempotency may drop them. Default and minimum 24 h. */
  idempotencyRetentionMs?: number;
  /**
   * Worker threads that check hub requests' signatures (envelope and HCE cryptogram) while they wait for the
   * drain loop, so the main thread spends its time in the transaction. Default: one per core but one, at
   * least 1. 0 checks everything on the main thread, as a tiny deployment may prefer.
   */
  verifyWorkers?: number;
  /**
   * How long a signature check that comes within this long of the one before waits for company before its worker gets
   * it (verify-pool.ts gatherMsDefault, 2 ms; one after a quiet spell never waits): at a steady rate the jobs of those
   * milliseconds go in one message and come back as one batch. 0 posts every job at the end of its event-loop turn.
   */
  verifyGatherMs?: number;
  /**
   * How a batch's `-wal` reaches the disk before it answers (ledger/wal-sync.ts); default fdatasync on libuv's thread
   * pool, through a descriptor kept open. The simulated world passes one that resolves at once: it kills processes, not power (the OS keeps what a
   * killed process wrote), and a real fsync ends at times its seeded schedule could not replay.
   */
  syncFile?: SyncFile;
  /**
   * Whether a SQLite file's WAL is copied back into it on a thread of its own (ledger/wal-checkpointer.ts), not by
   * COMMIT on the event loop. Default true; the simulated world, which runs no threads, passes false.
   */
  checkpointThread?: boolean;
  /** For tests only: the verify pool's worker entry (e.g. one that crashes), see VerifyPoolOptions.workerUrl. */
  testingHooks?: { verifyWorkerUrl?: URL };
  /** Payer verifiers beyond the built-in `hce` and `code` ones, e.g. `glasses`; one per payer kind. */
  payerVerifiers?: readonly PayerVerifier[];
  /** Tables of plugged-in modules, migrated after the ledger, registry and settlement ones. */
  schemaComponents?: readonly SchemaComponent[];
  /** When payments wait for a person's step-up or an operator (see ReviewPolicyOptions); all off by default. */
  review?: ReviewPolicyOptions;
  /**
   * Called with a bug (anything but a storage fault or a TapwireError) met while settling a batch; nothing of that
   * batch was kept. The default rethrows it outside so the process crashes and its supervisor restarts it; the
   * senders' retries are then answered exactly once. The service stops accepting either way.
   */
  onCrash?: (error: unknown) => void;
  /** Called with every decision the service signs (status and code), for metrics; it must not throw. */
  onDecision?: DecisionObserver;
  /**
   * How authorization requests reach wallet providers (the node's MQTT link). Absent: a provider's wallet cannot
   * pay (ProviderUnavailable). Answers come back through SettlementService.handleProviderAnswer.
   */
  providerTransport?: ProviderTransport;
}

export type DecisionObserver = (decision: { status: string; code: number }) => void;

export interface ResolvedSettlementOptions {
  databasePath: string;
  serviceKey: KeyObject;
  privacyKek: Uint8Array;
  clock: Clock;
  timers: Timers;
  decisionTtlMs: number;
  clockSkewMs: number;
  requestLifetimeMsMax: number;
  queueMax: number;
  queuedPerSenderMax: number;
  queueWaitMsMax: number;
  batchMax: number;
  verifyWorkers: number;
  verifyGatherMs: number;
  verifyWorkerUrl: URL | undefined;
  syncFile: SyncFile | undefined;
  checkpointThread: boolean;
  idempotencyRetentionMs: number;
  payerVerifiers: readonly PayerVerifier[];
  schemaComponents: readonly SchemaComponent[];
  onCrash: (error: unknown) => void;
  onDecision: DecisionObserver | undefined;
  providerTransport: ProviderTransport | undefined;
}

const hourMs = 3_600_000;

/** The unit of an option the protocol contract sets a floor for: its message names the contract. */
const contractFloor = (name: keyof typeof contract) => `milliseconds (never below protocol contract.${name}: hubs within it would be refused)`;

const sizedRanges = {
  clockSkewMs: [contract.clockSkewMs, 300_000, contractFloor("clockSkewMs")],
  requestLifetimeMsMax: [contract.requestLifetimeMsMax, hourMs, contractFloor("requestLifetimeMsMax")],
  queueMax: [1, 1_000_000, "messages"],
  queuedPerSenderMax: [1, 1_000_000, "messages"],
  queueWaitMsMax: [10, 600_000, "milliseconds"],
  batchMax: [1, 10_000, "messages"],
  verifyWorkers: [0, verifyWorkersMax, "threads"],
  verifyGatherMs: [0, verifyGatherMsMax, "milliseconds"],
  idempotencyRetentionMs: [24 * hourMs, 365 * 24 * hourMs, "milliseconds"],
} as const;

/**
 * Idempotency records outlive any request that could still pass the time checks (requests live at most
 * requestLifetimeMsMax), so pruning them never lets a replay through.
 * decisionTtlMs ≥ requestLifetimeMsMax + clockSkewMs guarantees that whenever a retried request still passes
 * the time checks, the stored decision it gets back (byte-identical, so with its original exp) is unexpired.
 */
export function resolveSettlementOptions(options: SettlementOptions): ResolvedSettlementOptions {
  if (options.databasePath.length === 0) {
    throw new TapwireError("databasePath must be a file path, \":memory:\" or a postgres:// URL", ErrorCode.ConfigInvalid, { option: "databasePath" });
  }
  const key = options.serviceKey;
  if (key.type !== "private" || !isP256(key)) {
    throw new TapwireError("serviceKey must be a P-256 private key", ErrorCode.ConfigInvalid, { option: "serviceKey" });
  }
  const sized = assertInRanges(
    {
      clockSkewMs: options.clockSkewMs ?? contract.clockSkewMs,
      requestLifetimeMsMax: options.requestLifetimeMsMax ?? contract.requestLifetimeMsMax,
      queueMax: options.queueMax ?? 2_048,
      queuedPerSenderMax: options.queuedPerSenderMax ?? 64,
      queueWaitMsMax: options.queueWaitMsMax ?? 1_000,
      batchMax: options.batchMax ?? 64,
      verifyWorkers: options.verifyWorkers ?? Math.max(1, availableParallelism() - 1),
      verifyGatherMs: options.verifyGatherMs ?? gatherMsDefault,
      idempotencyRetentionMs: options.idempotencyRetentionMs ?? 24 * hourMs,
    },
    sizedRanges,
    "settlement options",
  );
  // The floor of decisionTtlMs depends on two checked options, so it is checked after them.
  const ttlMin = sized.requestLifetimeMsMax + sized.clockSkewMs;
  const { decisionTtlMs } = assertInRanges(
    { decisionTtlMs: options.decisionTtlMs ?? ttlMin },
    { decisionTtlMs: [ttlMin, 24 * hourMs, "milliseconds"] },
    "settlement options",
  );
  const payerVerifiers = options.payerVerifiers ?? [];
  const kinds = payerVerifiers.map((verifier) => verifier.kind);
  if (new Set(kinds).size !== kinds.length || kinds.includes("hce") || kinds.includes("code")) {
    throw new TapwireError(`payerVerifiers must have distinct kinds other than the built-in "hce" and "code", got ${kinds.join(", ")}`, ErrorCode.ConfigInvalid, {
      option: "payerVerifiers",
    });
  }
  return {
    databasePath: options.databasePath,
    serviceKey: key,
    privacyKek: resolvePrivacyKek(options.privacyKek, key),
    clock: options.clock,
    timers: options.timers ?? systemTimers,
    decisionTtlMs,
    ...sized,
    verifyWorkerUrl: options.testingHooks?.verifyWorkerUrl,
    syncFile: options.syncFile,
    checkpointThread: options.checkpointThread ?? true,
    payerVerifiers,
    schemaComponents: options.schemaComponents ?? [],
    onCrash: options.onCrash ?? crashOutside,
    onDecision: options.onDecision,
    providerTransport: options.providerTransport,
  };
}

function resolvePrivacyKek(kek: Uint8Array | undefined, serviceKey: KeyObject): Uint8Array {
  if (kek !== undefined) {
    if (kek.length !== 32) throw new TapwireError(`privacyKek must be 32 bytes, got ${kek.length}`, ErrorCode.ConfigInvalid, { option: "privacyKek" });
    return kek;
  }
  const secret = serviceKey.export({ format: "der", type: "pkcs8" });
  return new Uint8Array(hkdfSync("sha256", secret, Buffer.alloc(0), "tapwire privacy key-encryption key v1", 32));
}
