import { describeStore } from "../store/store-location.ts";
import { createPublicKey, type KeyObject } from "node:crypto";
import { assert } from "../../core/assert.ts";
import { encodeBody } from "../../protocol/cbor.ts";
import { logger } from "../../core/log.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { OperatorAction } from "../../protocol/review.ts";
import type { Inbound, Outbound } from "../decisions/verdicts.ts";
import type { Consent } from "../privacy/consents.ts";
import type { RetentionReport, Withdrawal } from "../privacy/personal-data.ts";
import { erasePerson, exportPerson, type ErasureResult, type PersonExport } from "../privacy/person-records.ts";
import type { CommitCounts, ShedCounts } from "./batcher.ts";
import { closeRun, composeService, openRun, type RunningParts, type ServiceParts } from "./composition.ts";
import type { SettlementOptions } from "./options.ts";
import type { PushListener } from "./push-delivery.ts";
import { SettlementReads } from "./settlement-reads.ts";
import type { StorageHealth } from "./storage-faults.ts";

export type { Inbound, Outbound } from "../decisions/verdicts.ts";
import { UnverifiedReading } from "../decisions/unverified-reading.ts";

const log = logger("tapwire:settlement");

/**
 * Verifies, authorizes and posts what hubs, wallets and agents send, and answers with signed decisions. The
 * parts, each in its own module: the composition root (composition.ts) builds them; the batcher (batcher.ts)
 * queues and group-commits; the request pipeline (pipeline.ts) takes each message through its steps; the sweep
 * (sweep.ts) and push delivery (push-delivery.ts) do what no request asks for; the reads are settlement-reads.ts.
 */
export class SettlementService extends SettlementReads {
  private readonly parts: ServiceParts;
  private running: RunningParts | undefined;
  private stopping: Promise<void> | undefined;

  constructor(options: SettlementOptions) {
    super();
    this.parts = composeService(options);
  }

  /** Opens (and migrates) the database; after this `handle`, `ledger` and `registry` work. */
  async start(): Promise<void> {
    assert(!this.running && !this.stopping, "SettlementService started twice or while stopping");
    const running = openRun(this.parts);
    this.running = running;
    this.parts.batcher.start(running.work);
    running.sweep.start();
    log.info({ store: describeStore(this.parts.options.databasePath) }, "settlement service started");
  }

  /** Stops accepting, drains what is queued (bounded by queueMax), then closes the database. */
  stop(): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.stopping ??= this.drainAndClose(this.running);
    return this.stopping;
  }

  private async drainAndClose(running: RunningParts): Promise<void> {
    const drained = this.parts.batcher.close();
    running.sweep.stop();
    await drained;
    await closeRun(running);
    this.running = undefined;
    this.stopping = undefined;
    log.info("settlement service stopped");
  }

  /**
   * Answers one message. (kind, id) must come from the MQTT topic, which the broker lets only that principal
   * publish to. Resolves once the answer is durable; rejects with ServiceUnavailable when not started. `reading`: the
   * message's bytes as the caller decoded them already (the node, to route certificate renewals), decoded once more
   * by nobody.
   */
  handle(inbound: Inbound, reading = new UnverifiedReading(inbound.payload)): Promise<Outbound[]> {
    return this.parts.batcher.handle(inbound, reading);
  }

  /**
   * A wallet provider's answer, from `tapwire/v1/providers/<providerId>/req` (the broker lets only that provider
   * publish there). Returns undefined when it settled a waiting authorization, else the typed refusal
   * (ProviderAnswerInvalid, ProviderAnswerReplayed), which is also logged; nothing is answered to the provider.
   */
  handleProviderAnswer(providerId: string, payload: Uint8Array): TapwireError | undefined {
    return this.started().gateway.receive(providerId, payload);
  }

  get publicKey(): KeyObject {
    return createPublicKey(this.parts.options.serviceKey);
  }

  /** Messages waiting for the drain loop. */
  get queueLength(): number {
    return this.parts.batcher.queueLength;
  }

  /** Requests refused at admission so far. */
  get shedCounts(): ShedCounts {
    return this.parts.batcher.shedCounts;
  }

  /** Group-commit transactions committed so far and the messages in them. */
  get commitCounts(): CommitCounts {
    return this.parts.batcher.commitCounts;
  }

  get storageHealth(): StorageHealth {
    return this.parts.storage.health;
  }

  /**
   * An operator approves or declines a review or a dispute, exactly once (ReviewAlreadyDecided after that,
   * also from another process on the same file: the IMMEDIATE transaction serialises them). The final
   * decision is signed, stored as evidence, queued, and handed to onPush listeners.
   */
  decideReview(caseId: string, action: OperatorAction, operatorId: string): Outbound[] {
    const running = this.started();
    const outcome = running.db.transaction(() => running.desk.decide(caseId, action, operatorId, this.parts.options.clock.nowMs())).immediate();
    this.flushPushes();
    return outcome.pushes;
  }

  /**
   * An operator revokes a hub: the registry refuses it from the next message on, and the evidence chain records who
   * did it, in one transaction.
   */
  revokeHubAs(hubId: string, operatorId: string): void {
    const running = this.started();
    const nowMs = this.parts.options.clock.nowMs();
    running.db
      .transaction(() => {
        running.registry.revokeHub(hubId);
        const body = encodeBody({ type: "operator_revocation", subject: `hubs/${hubId}`, operatorId, atMs: nowMs });
        running.evidence.append("operator", `operators/${operatorId}`, `revoke:hubs/${hubId}`, body, nowMs);
      })
      .immediate();
  }

  /**
   * A hub's key rotation takes effect: the registry holds the new key and certificate serial, and the old
   * certificate's serial goes on the revoked list the broker reads, in one transaction.
   */
  rotateHubKey(hubId: string, publicKeyPem: string, certificateSerial: string): void {
    const running = this.started();
    const nowMs = this.parts.options.clock.nowMs();
    running.db
      .transaction(() => {
        const old = running.registry.getActiveHub(hubId);
        running.registry.rotateHubKey(hubId, publicKeyPem, certificateSerial);
        running.revokedCertificates.revoke(old.certificateSerial, `hubs/${hubId}`, "rotated", nowMs);
        running.pendingHubKeys.clear(hubId);
      })
      .immediate();
  }

  /** A certificate a hub renewed over its link: valid once the hub connects with it (see switchToRenewedKey). */
  holdRenewedKey(hubId: string, publicKeyPem: string, certificateSerial: string): void {
    const running = this.started();
    running.registry.getActiveHub(hubId);
    running.pendingHubKeys.put({ hubId, publicKeyPem, certificateSerial, issuedAtMs: this.parts.options.clock.nowMs() });
  }

  /**
   * The hub connected with the certificate it renewed: its new key takes over and the old certificate is revoked.
   * False when `certificateSerial` is not the hub's pending one.
   */
  switchToRenewedKey(hubId: string, certificateSerial: string): boolean {
    const pending = this.started().pendingHubKeys.matching(hubId, certificateSerial);
    if (pending === undefined) return false;
    this.rotateHubKey(hubId, pending.publicKeyPem, pending.certificateSerial);
    log.info({ hubId, certificateSerial }, "hub switched to its renewed certificate; the old one is revoked");
    return true;
  }

  /** Declines expired cases and publishes queued pushes; the service runs it every sweepIntervalMs. */
  sweepReviews(): number {
    return this.started().sweep.expireCases();
  }

  /** See Sweep.pruneIdempotency; every sweep runs it. */
  pruneIdempotency(rowsMax?: number): { decisions: number; nonces: number } {
    return this.started().sweep.pruneIdempotency(rowsMax);
  }

  /** See Sweep.applyRetention; every sweep runs it. */
  applyRetention(rowsMax?: number): RetentionReport {
    return this.started().sweep.applyRetention(rowsMax);
  }

  /** Everything held about a person (their wallet id), personal fields decrypted where their keys live. */
  exportPerson(person: string): PersonExport {
    const running = this.started();
    return running.db.transaction(() => exportPerson(running, person, this.parts.options.clock.nowMs())).deferred();
  }

  /** Erases a person (person-records.ts), recorded as evidence by `by` (`operators/<name>`); idempotent. */
  erasePerson(person: string, by: string): ErasureResult {
    const running = this.started();
    const result = running.db.transaction(() => erasePerson(running, person, by, this.parts.options.clock.nowMs())).immediate();
    if (!result.alreadyErased) log.info({ person, by, evidenceSeq: result.evidenceSeq, keysShredded: result.keysShredded }, "person erased");
    return result;
  }

  /** Withdraws a consent and undoes what it allowed (the glasses enrolment, the mandate). */
  withdrawConsent(consentId: number, by: string): Withdrawal {
    const running = this.started();
    return running.db.transaction(() => running.personal.withdraw(consentId, by, this.parts.options.clock.nowMs())).immediate();
  }

  /** The consents a person gave, oldest first. */
  consentsOf(person: string): Consent[] {
    const running = this.started();
    running.personal.requirePerson(person);
    return running.personal.consents.ofPerson(person);
  }

  /** Listens for pushed decisions; returns the function that removes the listener. */
  onPush(listener: PushListener): () => void {
    return this.parts.pushes.onPush(listener);
  }

  /** Hands queued pushes to the listeners, at most pushBatchMax per call (see PushDelivery.flush). */
  flushPushes(): number {
    const running = this.started();
    return this.parts.pushes.flush(running, this.parts.options.clock.nowMs());
  }

  protected started(): RunningParts {
    if (!this.running) throw new TapwireError("settlement service is not started", ErrorCode.ServiceUnavailable);
    return this.running;
  }
}
