import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import { openSealed } from "../../protocol/envelope.ts";
import { biometricClaimSchema, type BiometricClaim } from "../../protocol/glasses.ts";
import { isId } from "../../protocol/ids.ts";
import { importPublicPem } from "../../protocol/keys.ts";
import { assertInRanges } from "../../core/ranges.ts";
import type { PayerCredential } from "../../protocol/messages.ts";
import { StatementCache, type SchemaComponent } from "../ledger/sqlite-db.ts";
import { ConsentStore } from "../privacy/consents.ts";
import type { Wallet } from "../registry/principals.ts";
import type { Registry } from "../registry/registry.ts";
import type { PayerContext, PayerVerifier } from "./payer-verifier.ts";
import type { SqlDb } from "../../core/sql-db.ts";

/**
 * Paid with smart glasses: the hub forwards the biometric assertion its paired glasses signed. The service
 * checks it against the glasses' own key, enrolled and bound to the owner's wallet, so a hub cannot pay
 * from a wallet whose glasses did not confirm. The hub's challenge is random and unknown here; freshness is
 * `iat` within assertionAgeMsMax plus each (glasses, challenge) accepted once, so an assertion pays once.
 */
export const glassesSchema: SchemaComponent = {
  name: "glasses",
  migrations: [
    {
      version: 1,
      description: "glasses bound to wallets, consumed biometric challenges",
      sql: `
        CREATE TABLE glasses_enrolments (
          glasses_id TEXT PRIMARY KEY,
          wallet_id TEXT NOT NULL REFERENCES registry_wallets (wallet_id),
          public_key_pem TEXT NOT NULL,
          owner_id TEXT,
          enrolled_at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE glasses_challenges (
          glasses_id TEXT NOT NULL,
          challenge BLOB NOT NULL,
          consumed_at_ms INTEGER NOT NULL,
          PRIMARY KEY (glasses_id, challenge)
        ) STRICT, WITHOUT ROWID;
      `,
    },
  ],
};

export interface GlassesEnrolment {
  glassesId: string;
  walletId: string;
  publicKeyPem: string;
  /** When set, assertions must name this owner (OwnerMismatch otherwise). */
  ownerId?: string;
}

/**
 * Binds glasses (their P-256 key, learned at pairing) to a wallet. Pairing again means enrolling new glasses.
 * The wearer's voiceprint consent is recorded with it; nothing here is signed by the person (the glasses' key
 * is learned at pairing), so the record holds no signature.
 */
export function enrollGlasses(db: SqlDb, registry: Registry, enrolment: GlassesEnrolment, nowMs: number): void {
  if (!isId(enrolment.glassesId)) throw new TapwireError(`glassesId ${JSON.stringify(enrolment.glassesId)} is not a valid id`, ErrorCode.SchemaInvalid);
  importPublicPem(enrolment.publicKeyPem);
  registry.getWallet(enrolment.walletId);
  db.transaction(() => {
    if (db.prepare<[string], number>("SELECT 1 FROM glasses_enrolments WHERE glasses_id = ?").pluck().get(enrolment.glassesId) !== undefined) {
      throw new TapwireError(`glasses ${enrolment.glassesId} are already enrolled`, ErrorCode.GlassesAlreadyEnrolled);
    }
    db.prepare("INSERT INTO glasses_enrolments (glasses_id, wallet_id, public_key_pem, owner_id, enrolled_at_ms) VALUES (?, ?, ?, ?, ?)").run(
      enrolment.glassesId,
      enrolment.walletId,
      enrolment.publicKeyPem,
      enrolment.ownerId ?? null,
      nowMs,
    );
    new ConsentStore(db).record(enrolment.walletId, "glasses_voiceprint", enrolment.glassesId, undefined, nowMs);
  })();
}

export interface GlassesPayerVerifierOptions {
  /** How far `iat` of an assertion may be from the service clock. Default 120 000 ms. */
  assertionAgeMsMax?: number;
}

interface EnrolmentRow {
  wallet_id: string;
  public_key_pem: string;
  owner_id: string | null;
}

export class GlassesPayerVerifier implements PayerVerifier {
  readonly kind = "glasses" as const;
  private readonly assertionAgeMsMax: number;
  /** One cache per database: the same verifier may serve a service that restarts on a new connection. */
  private readonly statements = new WeakMap<SqlDb, StatementCache>();

  constructor(options: GlassesPayerVerifierOptions = {}) {
    const checked = assertInRanges(
      { assertionAgeMsMax: options.assertionAgeMsMax ?? 120_000 },
      { assertionAgeMsMax: [1_000, 600_000, "milliseconds"] },
      "glasses payer verifier options",
    );
    this.assertionAgeMsMax = checked.assertionAgeMsMax;
  }

  verify(request: Parameters<PayerVerifier["verify"]>[0], context: PayerContext): Wallet {
    return this.verifyPresence(request.payer, context);
  }

  verifyPresence(payer: PayerCredential, { registry, db, nowMs }: PayerContext): Wallet {
    if (payer.kind !== "glasses") throw new TapwireError(`glasses verifier got ${payer.kind}`, ErrorCode.UnsupportedRequest);
    const sql = this.statementsOf(db);
    const enrolment = sql
      .sql<[string], EnrolmentRow>("SELECT wallet_id, public_key_pem, owner_id FROM glasses_enrolments WHERE glasses_id = ?")
      .get(payer.glassesId);
    if (!enrolment || enrolment.wallet_id !== payer.walletId) {
      throw new TapwireError(`glasses ${payer.glassesId} are not bound to wallet ${payer.walletId}`, ErrorCode.PayerCredentialInvalid, { glassesId: payer.glassesId });
    }
    const claim = this.openAssertion(payer.assertion, enrolment.public_key_pem, payer.glassesId);
    if (enrolment.owner_id !== null && claim.ownerId !== enrolment.owner_id) {
      throw new TapwireError(`assertion names owner ${claim.ownerId}`, ErrorCode.OwnerMismatch, { glassesId: payer.glassesId });
    }
    if (Math.abs(nowMs - claim.iat) > this.assertionAgeMsMax) {
      throw new TapwireError(`assertion iat ${claim.iat} outside ±${this.assertionAgeMsMax} ms of ${nowMs}`, ErrorCode.MessageExpired);
    }
    const consumed = sql
      .sql<[string, Uint8Array, number]>("INSERT INTO glasses_challenges (glasses_id, challenge, consumed_at_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
      .run(payer.glassesId, claim.challenge, nowMs);
    if (consumed.changes === 0) throw new TapwireError("biometric assertion already used", ErrorCode.NonceReplayed, { glassesId: payer.glassesId });
    if (!claim.userVerified) throw new TapwireError(`${claim.method} did not verify the wearer`, ErrorCode.BiometricFailed);
    if (!claim.liveness) throw new TapwireError("liveness check failed", ErrorCode.BiometricFailed);
    return registry.getWallet(enrolment.wallet_id);
  }

  private statementsOf(db: SqlDb): StatementCache {
    let cache = this.statements.get(db);
    if (!cache) {
      cache = new StatementCache(db);
      this.statements.set(db, cache);
    }
    return cache;
  }

  private openAssertion(assertion: Uint8Array, publicKeyPem: string, glassesId: string): BiometricClaim {
    let claim: BiometricClaim;
    try {
      claim = openSealed(assertion, importPublicPem(publicKeyPem), biometricClaimSchema).body;
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      throw new TapwireError(`biometric assertion rejected: ${error.message}`, ErrorCode.PayerCredentialInvalid, { glassesId });
    }
    if (claim.glassesId !== glassesId) throw new TapwireError(`assertion names glasses ${claim.glassesId}`, ErrorCode.PayerCredentialInvalid, { glassesId });
    return claim;
  }
}
