import type { KeyObject } from "node:crypto";
import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { isCurrency } from "../../protocol/money.ts";
import { providerAccountId, type Ledger } from "../ledger/ledger.ts";
import { StatementCache } from "../ledger/sqlite-db.ts";
import type { Registry } from "../registry/registry.ts";
import { PublicKeyCache } from "../registry/public-keys.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export interface Provider {
  providerId: string;
  publicKeyPem: string;
  /** The provider's home currency: its wallets hold it, and what it owes is counted in it. */
  currency: string;
  certificateSerial: string;
  status: "active" | "revoked";
  enrolledAtMs: number;
}

export interface ProviderEnrollment {
  providerId: string;
  publicKeyPem: string;
  currency: string;
  certificateSerial: string;
}

interface ProviderRow {
  provider_id: string;
  public_key_pem: string;
  currency: string;
  certificate_serial: string;
  status: "active" | "revoked";
  enrolled_at_ms: number;
}

const columns = "provider_id, public_key_pem, currency, certificate_serial, status, enrolled_at_ms";
const toProvider = (r: ProviderRow): Provider => ({
  providerId: r.provider_id,
  publicKeyPem: r.public_key_pem,
  currency: r.currency,
  certificateSerial: r.certificate_serial,
  status: r.status,
  enrolledAtMs: r.enrolled_at_ms,
});

/** Money given back to a provider's wallet, which the provider is told of so it credits the wallet. */
export interface ProviderNotice {
  noticeId: number;
  providerId: string;
  authorizationId: string;
  /** `<hubId>/<requestId>` of the refund or reversal: the provider credits each once. */
  reference: string;
  /** In the provider's currency (a converted payment's give-back at its own quote). */
  amountMinor: number;
  currency: string;
}

/** Most providers one list returns. */
export const providersListMax = 1_000;

/**
 * Which providers are enrolled and which wallets each holds. Enrolling a provider opens its `provider:<id>`
 * account in its home currency in the same transaction; a provider's wallet is an enrolled wallet (its key checks
 * the payer's cryptogram here) whose money is the provider's to authorize.
 */
export class ProviderRegistry {
  private readonly statements: StatementCache;
  private readonly keys = new PublicKeyCache(providersListMax);
  private addedNotices = 0;

  constructor(
    private readonly db: SqlDb,
    private readonly ledger: Ledger,
    private readonly registry: Registry,
  ) {
    this.statements = new StatementCache(db);
  }

  enroll(e: ProviderEnrollment, nowMs: number): Provider {
    if (!isId(e.providerId)) throw new TapwireError(`provider id ${JSON.stringify(e.providerId)} is not an id`, ErrorCode.SchemaInvalid);
    if (!isCurrency(e.currency)) throw new TapwireError(`unknown currency ${e.currency}`, ErrorCode.UnknownCurrency);
    this.keys.get(e.publicKeyPem);
    return this.db.transaction(() => {
      if (this.find(e.providerId)) throw new TapwireError(`provider ${e.providerId} is already enrolled`, ErrorCode.ProviderAlreadyEnrolled, { providerId: e.providerId });
      this.ledger.ensureAccount(providerAccountId(e.providerId), e.currency);
      this.statements
        .sql<[string, string, string, string, number]>(
          "INSERT INTO providers (provider_id, public_key_pem, currency, certificate_serial, status, enrolled_at_ms) VALUES (?, ?, ?, ?, 'active', ?)",
        )
        .run(e.providerId, e.publicKeyPem, e.currency, e.certificateSerial, nowMs);
      return this.get(e.providerId);
    })();
  }

  find(providerId: string): Provider | undefined {
    const row = this.statements.sql<[string], ProviderRow>(`SELECT ${columns} FROM providers WHERE provider_id = ?`).get(providerId);
    return row ? toProvider(row) : undefined;
  }

  get(providerId: string): Provider {
    const provider = this.find(providerId);
    if (!provider) throw new TapwireError(`unknown provider ${providerId}`, ErrorCode.UnknownProvider, { providerId });
    return provider;
  }

  /** get, refusing a revoked provider: its wallets cannot pay (ProviderUnavailable). */
  getActive(providerId: string): Provider {
    const provider = this.get(providerId);
    if (provider.status !== "active") throw new TapwireError(`provider ${providerId} is revoked`, ErrorCode.ProviderUnavailable, { providerId });
    return provider;
  }

  revoke(providerId: string, nowMs: number): void {
    this.get(providerId);
    this.statements.sql<[number, string]>("UPDATE providers SET status = 'revoked', revoked_at_ms = ? WHERE provider_id = ? AND status = 'active'").run(nowMs, providerId);
  }

  list(): Provider[] {
    return this.statements.sql<[number], ProviderRow>(`SELECT ${columns} FROM providers ORDER BY provider_id LIMIT ?`).all(providersListMax).map(toProvider);
  }

  publicKey(provider: Provider): KeyObject {
    return this.keys.get(provider.publicKeyPem);
  }

  /** Marks an enrolled wallet as held by the provider; the wallet's currency must be the provider's. */
  assignWallet(walletId: string, providerId: string): void {
    const provider = this.get(providerId);
    const wallet = this.registry.getWallet(walletId);
    if (wallet.currency !== provider.currency) {
      throw new TapwireError(`wallet ${walletId} holds ${wallet.currency}, provider ${providerId} ${provider.currency}`, ErrorCode.CurrencyMismatch);
    }
    this.statements.sql<[string, string]>("INSERT INTO provider_wallets (wallet_id, provider_id) VALUES (?, ?)").run(walletId, providerId);
  }

  /** The provider that holds the wallet; undefined for an in-house wallet. */
  providerOf(walletId: string): string | undefined {
    return this.statements.sql<[string], string>("SELECT provider_id FROM provider_wallets WHERE wallet_id = ?").pluck().get(walletId);
  }

  /** Keeps the provider's signed approval a payment was posted under; an authorization is posted once. */
  recordAuthorization(a: { authorizationId: string; paymentId: number; providerId: string; amountMinor: number; currency: string; answer: Uint8Array }, nowMs: number): void {
    this.statements
      .sql<[string, number, string, number, string, Buffer, number]>(
        "INSERT INTO provider_authorizations (authorization_id, payment_id, provider_id, amount_minor, currency, answer, posted_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
      )
      .run(a.authorizationId, a.paymentId, a.providerId, a.amountMinor, a.currency, Buffer.from(a.answer), nowMs);
  }

  /** Whether a payment was posted under the authorization. */
  isPosted(authorizationId: string): boolean {
    return this.statements.sql<[string], number>("SELECT 1 FROM provider_authorizations WHERE authorization_id = ?").pluck().get(authorizationId) !== undefined;
  }

  /** The authorization a payment was posted under; undefined for an in-house wallet's payment. */
  authorizationOfPayment(paymentId: number): { authorizationId: string; providerId: string } | undefined {
    const row = this.statements
      .sql<[number], { authorization_id: string; provider_id: string }>("SELECT authorization_id, provider_id FROM provider_authorizations WHERE payment_id = ?")
      .get(paymentId);
    return row ? { authorizationId: row.authorization_id, providerId: row.provider_id } : undefined;
  }

  /**
   * Inside the batch that gives money back to a provider's wallet: the provider is to be told (`reference`, the
   * refund's or reversal's `<hubId>/<requestId>`, names it once). Sent after the commit (unsentNotices, markSent).
   */
  addNotice(n: { providerId: string; authorizationId: string; reference: string; amountMinor: number; currency: string }, nowMs: number): void {
    this.addedNotices += 1;
    this.statements
      .sql<[string, string, string, number, string, number]>(
        "INSERT INTO provider_notices (provider_id, authorization_id, reference, amount_minor, currency, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
      )
      .run(n.providerId, n.authorizationId, n.reference, n.amountMinor, n.currency, nowMs);
  }

  /**
   * Notices this registry's addNotice wrote since it was made (a rolled-back one included): a flush that saw none
   * added since its last look need not look again (ProviderStage.flushNotices).
   */
  get noticesAdded(): number {
    return this.addedNotices;
  }

  /** Give-back notices not sent yet, oldest first, at most `limit`. */
  unsentNotices(limit: number): ProviderNotice[] {
    // Every batch asks this: the limit is in the text, as a bound LIMIT re-prepares the statement on each call (campaign-store.ts).
    assert(Number.isSafeInteger(limit) && limit > 0, `notice limit ${limit} is not a positive integer`);
    return this.statements
      .sql<[], { notice_id: number; provider_id: string; authorization_id: string; reference: string; amount_minor: number; currency: string }>(
        `SELECT notice_id, provider_id, authorization_id, reference, amount_minor, currency FROM provider_notices WHERE sent_at_ms IS NULL ORDER BY notice_id LIMIT ${limit}`,
      )
      .all()
      .map((r) => ({ noticeId: r.notice_id, providerId: r.provider_id, authorizationId: r.authorization_id, reference: r.reference, amountMinor: r.amount_minor, currency: r.currency }));
  }

  markNoticeSent(noticeId: number, nowMs: number): void {
    this.statements.sql<[number, number]>("UPDATE provider_notices SET sent_at_ms = ? WHERE notice_id = ?").run(nowMs, noticeId);
  }
}
