import { assert } from "../../core/assert.ts";
import { AgentPayments } from "../agents/agent-payments.ts";
import { MandateStore } from "../agents/mandate-store.ts";
import { CampaignAdmin } from "../campaigns/campaign-admin.ts";
import { CampaignStore } from "../campaigns/campaign-store.ts";
import { CampaignRedemptions } from "../campaigns/redemptions.ts";
import { EvidenceStore } from "../evidence/evidence-store.ts";
import { openStore } from "../store/open-store.ts";
import { SqliteLedger } from "../ledger/sqlite-ledger.ts";
import { WalSync, type Durability } from "../ledger/wal-sync.ts";
import { OperatorStore } from "../operators/operator-store.ts";
import { RevokedCertificates } from "../registry/revoked-certificates.ts";
import { PendingHubKeys } from "../registry/pending-hub-keys.ts";
import { PersonalData } from "../privacy/personal-data.ts";
import { systemRandom } from "../../core/sources.ts";
import { Registry } from "../registry/registry.ts";
import { ReviewDesk } from "../review/review-desk.ts";
import { ReviewStore } from "../review/review-store.ts";
import { resolveReviewPolicy, type ReviewPolicy } from "../review/risk.ts";
import type { Admission } from "./admission.ts";
import { Answerer } from "./answers.ts";
import { Batcher, type BatchWork } from "./batcher.ts";
import { Captures } from "./captures.ts";
import { ClientRequests } from "./client-requests.ts";
import { DecisionSigner } from "./decision-signer.ts";
import { DecisionStore } from "./decision-store.ts";
import { Gates } from "./gates.ts";
import { HeldPayments } from "./held-payments.ts";
import { HubRequests } from "./hub-requests.ts";
import { OfflineCaptures } from "./offline-captures.ts";
import { OfflineStore } from "./offline-store.ts";
import { resolveSettlementOptions, type ResolvedSettlementOptions, type SettlementOptions } from "./options.ts";
import { hceVerifier, type PayerVerifier } from "./payer-verifier.ts";
import { CodePayerVerifier } from "./code-payer-verifier.ts";
import { serviceSchema } from "./service-schema.ts";
import { RequestPipeline } from "./pipeline.ts";
import { PrecheckJobs } from "./prechecks.ts";
import { PushDelivery } from "./push-delivery.ts";
import { Refunds } from "./refunds.ts";
import { SettlementStore } from "./settlement-store.ts";
import { StorageWatch } from "./storage-faults.ts";
import { Sweep } from "./sweep.ts";
import { VerifyPool } from "./verify-pool.ts";
import { FxDesk } from "../fx/fx-desk.ts";
import { RateTable } from "../fx/rate-table.ts";
import { ProviderGateway } from "../providers/provider-gateway.ts";
import { ProviderRegistry } from "../providers/provider-registry.ts";
import { ProviderStage } from "../providers/provider-stage.ts";
import { contract } from "../../protocol/contract.ts";
import type { SqlDb } from "../../core/sql-db.ts";
import { readTogether } from "./read-together.ts";

/**
 * The composition root of the settlement service: the one module that knows every part and wires them. What
 * lives as long as the service object (its options, signer, queue, storage health, push listeners) is built
 * once; what lives for one run (the database and everything over it) is built at each start and closed at stop.
 */

/** Built with the service object and kept across restarts. */
export interface ServiceParts {
  options: ResolvedSettlementOptions;
  policy: ReviewPolicy;
  signer: DecisionSigner;
  storage: StorageWatch;
  batcher: Batcher;
  pushes: PushDelivery;
}

/** One run: the database, its stores and services, and the work the batcher does with them. */
export interface RunningParts {
  db: SqlDb;
  /** When a batch's commit is on disk (ledger/wal-sync.ts). */
  durability: Durability;
  ledger: SqliteLedger;
  registry: Registry;
  store: SettlementStore;
  offline: OfflineStore;
  mandates: MandateStore;
  reviews: ReviewStore;
  desk: ReviewDesk;
  evidence: EvidenceStore;
  campaigns: CampaignAdmin;
  operators: OperatorStore;
  revokedCertificates: RevokedCertificates;
  pendingHubKeys: PendingHubKeys;
  personal: PersonalData;
  rates: RateTable;
  providers: ProviderRegistry;
  gateway: ProviderGateway;
  sweep: Sweep;
  work: BatchWork;
}

export function composeService(input: SettlementOptions): ServiceParts {
  const options = resolveSettlementOptions(input);
  const storage = new StorageWatch(options.clock);
  return {
    options,
    policy: resolveReviewPolicy(input.review),
    signer: new DecisionSigner(options.serviceKey, options.decisionTtlMs, options.onDecision),
    storage,
    batcher: new Batcher(options, storage),
    pushes: new PushDelivery(),
  };
}

/** Opens (and migrates) the database and builds the run's parts over it; starts the verify workers, if any. */
export function openRun(service: ServiceParts): RunningParts {
  const { options, policy, signer, batcher, pushes, storage } = service;
  const { databasePath, clock, payerVerifiers, schemaComponents } = options;
  const db = openStore(databasePath, serviceSchema(schemaComponents), clock);
  const ledger = new SqliteLedger(db, clock);
  const registry = new Registry(db, ledger, clock);
  const store = new SettlementStore(db);
  const decisions = new DecisionStore(db);
  const offline = new OfflineStore(db);
  const mandates = new MandateStore(db);
  const reviews = new ReviewStore(db);
  const evidence = new EvidenceStore(db);
  // Data keys and GCM IVs must never repeat, so they come from the system's CSPRNG, never a replayable seed.
  const personal = new PersonalData({ db, mandates, kek: options.privacyKek, random: systemRandom });
  const answerer = new Answerer({ decisions, evidence, signer, storedRequest: (request, nowMs) => personal.storedRequest(request, nowMs) });
  const campaignStore = new CampaignStore(db);
  const redemptions = new CampaignRedemptions({ db, store: campaignStore, evidence });
  const builtIn = [hceVerifier, new CodePayerVerifier(options.clockSkewMs)];
  const verifiers = new Map<string, PayerVerifier>([...builtIn, ...payerVerifiers].map((v) => [v.kind, v]));
  // The desk posts what it held through parts that need the desk themselves (agent payments hold through it).
  let held: HeldPayments | undefined;
  const desk = new ReviewDesk({
    store: reviews,
    answerer,
    evidence,
    policy,
    poster: {
      post: (payment, caseId, nowMs) => {
        assert(held, "held payments are wired before any case is decided");
        return held.post(payment, caseId, nowMs);
      },
    },
  });
  const agentPayments = new AgentPayments({ db, registry, ledger, mandates, desk, policy, consents: personal });
  const rates = new RateTable(db);
  const fx = new FxDesk(db, rates);
  const providers = new ProviderRegistry(db, ledger, registry);
  const gateway = new ProviderGateway({
    transport: options.providerTransport,
    serviceKey: options.serviceKey,
    clock,
    timers: options.timers,
    providerKey: (providerId) => {
      const provider = providers.find(providerId);
      return provider?.status === "active" ? providers.publicKey(provider) : undefined;
    },
    answerMsMax: contract.providerAnswerMsMax,
    pendingMax: options.queueMax,
  });
  const captures = new Captures({ db, registry, ledger, store, campaigns: redemptions, fx, providers });
  const disputes = { db, ledger, store, mandates, campaigns: redemptions };
  held = new HeldPayments({ db, registry, captures, agentPayments, disputes });
  const pipeline = new RequestPipeline({
    gates: new Gates({ registry, decisions, mandates, clockSkewMs: options.clockSkewMs, requestLifetimeMsMax: options.requestLifetimeMsMax }),
    hubRequests: new HubRequests({
      db,
      registry,
      store,
      verifiers,
      policy,
      desk,
      reviews,
      campaigns: redemptions,
      captures,
      refunds: new Refunds({ ledger, store, campaigns: redemptions, fx, providers }),
      offline: new OfflineCaptures({ db, registry, offline, clockSkewMs: options.clockSkewMs, captures }),
      providers,
    }),
    clientRequests: new ClientRequests({ agentPayments, desk, disputes }),
    answerer,
  });
  const batchTransaction = db.transaction((admitted: readonly Admission[]) => {
    const nowMs = clock.nowMs();
    return admitted.map((admission) => pipeline.process(admission, nowMs));
  });
  const durability = WalSync.of(db, options.syncFile, options.checkpointThread);
  const { verifyWorkers, verifyGatherMs, verifyWorkerUrl, queueMax } = options;
  const pool =
    verifyWorkers > 0
      ? new VerifyPool({ size: verifyWorkers, jobsQueuedMax: queueMax, gatherMs: verifyGatherMs, ...(verifyWorkerUrl ? { workerUrl: verifyWorkerUrl } : {}) })
      : undefined;
  pool?.start();
  const sweep = new Sweep({
    db,
    desk,
    decisions,
    clock,
    timers: options.timers,
    sweepIntervalMs: policy.sweepIntervalMs,
    idempotencyRetentionMs: options.idempotencyRetentionMs,
    storage,
    flushPushes: () => pushes.flush({ db, reviews }, clock.nowMs()),
    accepting: () => batcher.accepting,
    crash: (error) => batcher.crash(error, 0),
    applyRetention: (nowMs, rowsMax) => personal.applyRetention(nowMs, rowsMax),
  });
  const campaigns = new CampaignAdmin({ db, ledger, registry, store: campaignStore, evidence, clock });
  return {
    db,
    durability,
    ledger,
    registry,
    store,
    offline,
    mandates,
    reviews,
    desk,
    evidence,
    campaigns,
    operators: new OperatorStore(db),
    revokedCertificates: new RevokedCertificates(db),
    pendingHubKeys: new PendingHubKeys(db),
    personal,
    rates,
    providers,
    gateway,
    sweep,
    work: {
      admission: { registry, mandates },
      prechecks: pool ? { pool, jobs: new PrecheckJobs(registry) } : undefined,
      providers: new ProviderStage({ registry, providers, decided: (hubId, requestId) => decisions.findDecision(hubId, requestId) !== undefined, fx, gateway, clock }),
      commitBatch: (admitted) => durability.unsynced(() => batchTransaction.immediate(admitted)),
      synced: () => durability.synced(),
      readTogether: (read) => readTogether(db, read),
      answerer,
    },
  };
}

/** Declines what waits for a provider, closes the database, then ends the verify workers. */
export async function closeRun(run: RunningParts): Promise<void> {
  run.gateway.close();
  await run.durability.close();
  run.db.close();
  await run.work.prechecks?.pool.stop();
}
