import type { Random } from "../../core/sources.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { MandateConsents } from "../agents/agent-payments.ts";
import type { MandateStore } from "../agents/mandate-store.ts";
import type { UnverifiedReading } from "../decisions/unverified-reading.ts";
import { StatementCache } from "../ledger/sqlite-db.ts";
import { ConsentStore, type Consent } from "./consents.ts";
import { PersonalKeys } from "./personal-keys.ts";
import { retentionMs } from "./retention.ts";
import { holdsPersonalFields, sealRequest } from "./sealed-evidence.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export interface PersonalDataDeps {
  db: SqlDb;
  mandates: MandateStore;
  /** The service's key-encryption key (32 bytes) that wraps every person's data keys. */
  kek: Uint8Array;
  random: Random;
}

/** What one retention pass did (retention.ts). */
export interface RetentionReport {
  keysShredded: number;
  reviewContextsCleared: number;
  glassesChallengesDeleted: number;
  withdrawnConsentsDeleted: number;
}

/** What withdrawing a consent undid besides marking it. */
export interface Withdrawal {
  consent: Consent;
  /** False when it had already been withdrawn (nothing changed). */
  withdrawn: boolean;
}

/** A review case's context once cleared (erase, retention): the column stays valid JSON. */
export const clearedContext = "{}";

/**
 * The personal data the settlement database holds, in one place: sealing requests with personal fields as they
 * join the evidence (sealed-evidence.ts), consents and their withdrawal, and retention. Export and erase of one
 * person are person-records.ts. All of it runs inside the caller's transaction.
 */
export class PersonalData implements MandateConsents {
  readonly keys: PersonalKeys;
  readonly consents: ConsentStore;
  private readonly statements: StatementCache;
  private glassesTable: boolean | undefined;

  constructor(private readonly deps: PersonalDataDeps) {
    this.keys = new PersonalKeys(deps.db, deps.kek, deps.random);
    this.consents = new ConsentStore(deps.db);
    this.statements = new StatementCache(deps.db);
  }

  /**
   * The form a verified request joins the evidence in: sealed under its payer's key when it holds personal fields
   * and names a person (a glasses or tap payer, an agent's mandate holder); as received otherwise. `request` is the
   * message as admission read it (its signature verified since), so it is not decoded again here.
   */
  storedRequest(request: UnverifiedReading, nowMs: number): Uint8Array {
    const { bytes } = request;
    const { payload } = request.envelope();
    const body = request.body() as Record<string, unknown>;
    if (typeof body !== "object" || body === null || !holdsPersonalFields(body)) return bytes;
    const person = this.personOf(body);
    return person === undefined ? bytes : sealRequest({ bytes, payload, body }, person, this.keys, this.deps.random, nowMs);
  }

  /** The person a request is about: its payer's wallet, the wallet that signed the agent's mandate, or the wallet's own. */
  personOf(body: Record<string, unknown>): string | undefined {
    const payer = body["payer"] as { walletId?: unknown } | undefined;
    if (typeof payer?.walletId === "string") return payer.walletId;
    if (typeof body["walletId"] === "string") return body["walletId"];
    if (body["type"] === "agent_payment" && typeof body["mandateId"] === "string") return this.deps.mandates.findMandate(body["mandateId"])?.walletId;
    return undefined;
  }

  /**
   * Withdraws a consent and undoes what it allowed: voiceprint consent removes the glasses enrolment (and its
   * consumed challenges); mandate consent revokes the mandate. Twice: no change, `withdrawn` false.
   */
  withdraw(consentId: number, by: string, nowMs: number): Withdrawal {
    const consent = this.consents.get(consentId);
    if (!this.consents.markWithdrawn(consentId, by, nowMs)) return { consent, withdrawn: false };
    if (consent.purpose === "glasses_voiceprint") this.removeGlasses(consent.subject);
    else this.deps.mandates.revokeMandate(consent.subject, nowMs);
    return { consent: this.consents.get(consentId), withdrawn: true };
  }

  /** Records the person's consent to a mandate they registered, with their signature on it. */
  mandateRegistered(walletId: string, mandateId: string, signed: Uint8Array, nowMs: number): void {
    this.consents.record(walletId, "agent_mandate", mandateId, signed, nowMs);
  }

  /** Marks a mandate's consent withdrawn when the person revokes the mandate themselves (mandate_revoke). */
  mandateRevoked(mandateId: string, nowMs: number): void {
    const consent = this.consents.find("agent_mandate", mandateId);
    if (consent !== undefined) this.consents.markWithdrawn(consent.consentId, "person", nowMs);
  }

  /** Deletes a pair of glasses' enrolment and challenges; the glasses table exists only where glasses are plugged in. */
  removeGlasses(glassesId: string): number {
    if (!this.hasGlasses()) return 0;
    this.statements.sql<[string]>("DELETE FROM glasses_challenges WHERE glasses_id = ?").run(glassesId);
    return this.statements.sql<[string]>("DELETE FROM glasses_enrolments WHERE glasses_id = ?").run(glassesId).changes;
  }

  hasGlasses(): boolean {
    // The glasses component (glassesSchema) is plugged in or not; its migrations are recorded when it is.
    this.glassesTable ??= this.statements.sql<[], number>("SELECT 1 FROM schema_version WHERE component = 'glasses'").pluck().get() !== undefined;
    return this.glassesTable;
  }

  /** Shreds and removes what retention.ts says has run out, at most rowsMax of each kind per call. */
  applyRetention(nowMs: number, rowsMax: number): RetentionReport {
    const keysShredded = this.keys.shredPeriodsEndedBy("evidence_personal", nowMs - retentionMs("evidence_personal"), nowMs, rowsMax);
    const reviewContextsCleared = this.statements
      // The literal lets SQLite use the partial index privacy_review_context_held (privacy-schema.ts).
      .sql<[number, number]>(
        `UPDATE review_cases SET context = '${clearedContext}' WHERE case_seq IN (
           SELECT case_seq FROM review_cases WHERE decided_at_ms IS NOT NULL AND decided_at_ms <= ? AND context != '${clearedContext}' LIMIT ?)`,
      )
      .run(nowMs - retentionMs("review_context"), rowsMax).changes;
    const glassesChallengesDeleted = this.hasGlasses()
      ? this.statements
          .sql<[number, number]>(
            `DELETE FROM glasses_challenges WHERE (glasses_id, challenge) IN (
               SELECT glasses_id, challenge FROM glasses_challenges WHERE consumed_at_ms <= ? LIMIT ?)`,
          )
          .run(nowMs - retentionMs("glasses_challenges"), rowsMax).changes
      : 0;
    const withdrawnConsentsDeleted = this.consents.deleteWithdrawnBefore(nowMs - retentionMs("withdrawn_consents"), rowsMax);
    return { keysShredded, reviewContextsCleared, glassesChallengesDeleted, withdrawnConsentsDeleted };
  }

  /** PersonUnknown unless the person (a wallet) is enrolled. */
  requirePerson(person: string): void {
    if (this.statements.sql<[string], number>("SELECT 1 FROM registry_wallets WHERE wallet_id = ?").pluck().get(person) === undefined) {
      throw new TapwireError(`no person (wallet) ${person}`, ErrorCode.PersonUnknown, { person });
    }
  }
}
