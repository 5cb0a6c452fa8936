import { assert } from "../../core/assert.ts";
import { decodeSign1 } from "../../protocol/cose.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { StatementCache } from "../ledger/sqlite-db.ts";
import type { SqlDb } from "../../core/sql-db.ts";

/**
 * What a person agreed to, word for word: the text shown, under a version that changes whenever the text does.
 * A consent row keeps both, so what was agreed stays provable after the text here moves on.
 */
export const consentTexts = {
  glasses_voiceprint: {
    version: "glasses-voiceprint-v1",
    text: "My glasses may check my voice (voiceprint) on the glasses to confirm purchases I ask for, and this service keeps the glasses' key bound to my wallet to accept those confirmations.",
  },
  agent_mandate: {
    version: "agent-mandate-v1",
    text: "The agent named in this mandate may pay from my wallet within the limits I signed, and this service keeps what the agent sends (including what it heard and chose) to settle, review and dispute those payments.",
  },
} as const;

export type ConsentPurpose = keyof typeof consentTexts;

export interface Consent {
  consentId: number;
  /** The person: their wallet id. */
  person: string;
  purpose: ConsentPurpose;
  textVersion: string;
  text: string;
  /** What the consent is for: the glasses id, the mandate id. */
  subject: string;
  /** The person's signature where they signed (a mandate: the wallet key's ES256 signature), with the signed message. */
  signature?: Uint8Array;
  signedMessage?: Uint8Array;
  givenAtMs: number;
  withdrawnAtMs?: number;
  /** `person` (their own revoke), `operators/<name>`, `erase`. */
  withdrawnBy?: string;
}

interface Row {
  consent_id: number;
  person: string;
  purpose: ConsentPurpose;
  text_version: string;
  text: string;
  subject: string;
  signature: Buffer | null;
  signed_message: Buffer | null;
  given_at_ms: number;
  withdrawn_at_ms: number | null;
  withdrawn_by: string | null;
}

const columns = "consent_id, person, purpose, text_version, text, subject, signature, signed_message, given_at_ms, withdrawn_at_ms, withdrawn_by";

const toConsent = (r: Row): Consent => ({
  consentId: r.consent_id,
  person: r.person,
  purpose: r.purpose,
  textVersion: r.text_version,
  text: r.text,
  subject: r.subject,
  ...(r.signature !== null && r.signed_message !== null ? { signature: new Uint8Array(r.signature), signedMessage: new Uint8Array(r.signed_message) } : {}),
  givenAtMs: r.given_at_ms,
  ...(r.withdrawn_at_ms !== null && r.withdrawn_by !== null ? { withdrawnAtMs: r.withdrawn_at_ms, withdrawnBy: r.withdrawn_by } : {}),
});

/** Consents a person holds at most (a mandate or a pair of glasses each): bounds one export or erase. */
export const consentsPerPersonMax = 10_000;

/**
 * Consent records, written in the transaction of what they are for (glasses enrolment, mandate registration).
 * Withdrawing one is recorded here; what it undoes (the enrolment, the mandate) is done by the caller in the
 * same transaction (person-records.ts).
 */
export class ConsentStore {
  private readonly statements: StatementCache;

  constructor(db: SqlDb) {
    this.statements = new StatementCache(db);
  }

  /**
   * Records a consent. `signedMessage` is the COSE_Sign1 the person signed it with, if they signed: its
   * signature is kept beside it.
   */
  record(person: string, purpose: ConsentPurpose, subject: string, signedMessage: Uint8Array | undefined, nowMs: number): Consent {
    const { version, text } = consentTexts[purpose];
    const signature = signedMessage === undefined ? null : decodeSign1(signedMessage).signature;
    const consentId = this.statements
      .sql<[string, string, string, string, string, Uint8Array | null, Uint8Array | null, number], number>(
        `INSERT INTO privacy_consents (person, purpose, text_version, text, subject, signature, signed_message, given_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         RETURNING consent_id`,
      )
      .pluck()
      .get(person, purpose, version, text, subject, signature, signedMessage ?? null, nowMs);
    assert(consentId !== undefined, "the insert returns its consent id");
    return this.get(consentId);
  }

  get(consentId: number): Consent {
    const row = this.statements.sql<[number], Row>(`SELECT ${columns} FROM privacy_consents WHERE consent_id = ?`).get(consentId);
    if (!row) throw new TapwireError(`no consent ${consentId}`, ErrorCode.ConsentUnknown, { consentId });
    return toConsent(row);
  }

  find(purpose: ConsentPurpose, subject: string): Consent | undefined {
    const row = this.statements.sql<[string, string], Row>(`SELECT ${columns} FROM privacy_consents WHERE purpose = ? AND subject = ? ORDER BY consent_id DESC LIMIT 1`).get(purpose, subject);
    return row && toConsent(row);
  }

  ofPerson(person: string): Consent[] {
    return this.statements
      .sql<[string, number], Row>(`SELECT ${columns} FROM privacy_consents WHERE person = ? ORDER BY consent_id LIMIT ?`)
      .all(person, consentsPerPersonMax)
      .map(toConsent);
  }

  /** Marks it withdrawn; false when it already was. */
  markWithdrawn(consentId: number, by: string, nowMs: number): boolean {
    return (
      this.statements
        .sql<[number, string, number]>("UPDATE privacy_consents SET withdrawn_at_ms = ?, withdrawn_by = ? WHERE consent_id = ? AND withdrawn_at_ms IS NULL")
        .run(nowMs, by, consentId).changes === 1
    );
  }

  /** Deletes withdrawn consents withdrawn at or before `cutoffMs`, at most rowsMax (retention). */
  deleteWithdrawnBefore(cutoffMs: number, rowsMax: number): number {
    return this.statements
      .sql<[number, number]>(
        "DELETE FROM privacy_consents WHERE consent_id IN (SELECT consent_id FROM privacy_consents WHERE withdrawn_at_ms IS NOT NULL AND withdrawn_at_ms <= ? ORDER BY withdrawn_at_ms LIMIT ?)",
      )
      .run(cutoffMs, rowsMax).changes;
  }
}
