import type { KeyObject } from "node:crypto";
import { assert } from "../../protocol/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { importPublicPem } from "../../protocol/keys.ts";
import { logger } from "../../protocol/log.ts";
import { assertMoney, isCurrency } from "../../protocol/money.ts";
import type { Clock } from "../../protocol/sources.ts";
import { fundingAccountId, merchantAccountId, walletAccountId, type Ledger, type Transfer } from "../ledger/ledger.ts";
import { StatementCache, type SqliteDb } from "../ledger/sqlite-db.ts";

const log = logger("tapwire:registry");

export type HubStatus = "active" | "revoked";

export interface Merchant {
  merchantId: string;
  /** The currency of the merchant's ledger account; payments in another currency are refused. */
  currency: string;
  displayName: string;
  enrolledAtMs: number;
}

export interface Hub {
  hubId: string;
  merchantId: string;
  publicKeyPem: string;
  status: HubStatus;
  /** Highest request seq accepted from this hub; the next must be greater. */
  lastSeq: number;
  certificateSerial: string;
  enrolledAtMs: number;
  revokedAtMs: number | undefined;
}

export interface Wallet {
  walletId: string;
  publicKeyPem: string;
  currency: string;
  perPaymentMaxMinor: number;
  /** Highest HCE application transaction counter accepted; the next must be greater. */
  lastAtc: number;
  enrolledAtMs: number;
}

export interface MerchantEnrollment {
  merchantId: string;
  currency: string;
  displayName?: string;
}

export interface HubEnrollment {
  hubId: string;
  merchantId: string;
  publicKeyPem: string;
  certificateSerial: string;
}

export interface WalletEnrollment {
  walletId: string;
  publicKeyPem: string;
  currency: string;
  perPaymentMaxMinor: number;
}

export type RevokedListener = (hub: Hub) => void;

/** Bounds on the registry's in-memory state and on list answers. */
export const revokedListenersMax = 64;
export const publicKeysCachedMax = 10_000;
export const registryListMax = 10_000;
const displayNameMax = 100;
const certificateSerialMax = 64;

interface HubRow {
  hub_id: string;
  merchant_id: string;
  public_key_pem: string;
  status: HubStatus;
  last_seq: number;
  certificate_serial: string;
  enrolled_at_ms: number;
  revoked_at_ms: number | null;
}

interface WalletRow {
  wallet_id: string;
  public_key_pem: string;
  currency: string;
  per_payment_max_minor: number;
  last_atc: number;
  enrolled_at_ms: number;
}

interface MerchantRow {
  merchant_id: string;
  currency: string;
  display_name: string;
  enrolled_at_ms: number;
}

const hubColumns = "hub_id, merchant_id, public_key_pem, status, last_seq, certificate_serial, enrolled_at_ms, revoked_at_ms";
const walletColumns = "wallet_id, public_key_pem, currency, per_payment_max_minor, last_atc, enrolled_at_ms";
const merchantColumns = "merchant_id, currency, display_name, enrolled_at_ms";

const toHub = (r: HubRow): Hub => ({
  hubId: r.hub_id,
  merchantId: r.merchant_id,
  publicKeyPem: r.public_key_pem,
  status: r.status,
  lastSeq: r.last_seq,
  certificateSerial: r.certificate_serial,
  enrolledAtMs: r.enrolled_at_ms,
  revokedAtMs: r.revoked_at_ms ?? undefined,
});

const toWallet = (r: WalletRow): Wallet => ({
  walletId: r.wallet_id,
  publicKeyPem: r.public_key_pem,
  currency: r.currency,
  perPaymentMaxMinor: r.per_payment_max_minor,
  lastAtc: r.last_atc,
  enrolledAtMs: r.enrolled_at_ms,
});

const toMerchant = (r: MerchantRow): Merchant => ({
  merchantId: r.merchant_id,
  currency: r.currency,
  displayName: r.display_name,
  enrolledAtMs: r.enrolled_at_ms,
});

/**
 * Who may talk to the settlement service and with which key. Every write that enrolls also opens the
 * matching ledger account in the same transaction, so a wallet never exists without its account.
 */
export class Registry {
  private readonly statements: StatementCache;
  private readonly revokedListeners = new Set<RevokedListener>();
  private readonly publicKeys = new Map<string, KeyObject>();

  constructor(
    private readonly db: SqliteDb,
    private readonly ledger: Ledger,
    private readonly clock: Clock,
  ) {
    this.statements = new StatementCache(db);
  }

  enrollMerchant(enrollment: MerchantEnrollment): Merchant {
    requireId(enrollment.merchantId, "merchantId");
    if (!isCurrency(enrollment.currency)) {
      throw new TapwireError(`unknown currency ${JSON.stringify(enrollment.currency)}`, ErrorCode.UnknownCurrency);
    }
    const displayName = (enrollment.displayName ?? enrollment.merchantId).slice(0, displayNameMax);
    return this.db.transaction(() => {
      if (this.findMerchant(enrollment.merchantId)) {
        throw new TapwireError(`merchant ${enrollment.merchantId} is already enrolled`, ErrorCode.MerchantAlreadyEnrolled, {
          merchantId: enrollment.merchantId,
        });
      }
      this.ledger.ensureAccount(merchantAccountId(enrollment.merchantId), enrollment.currency);
      this.statements
        .sql<[string, string, string, number]>(`INSERT INTO registry_merchants (${merchantColumns}) VALUES (?, ?, ?, ?)`)
        .run(enrollment.merchantId, enrollment.currency, displayName, this.clock.nowMs());
      return this.getMerchant(enrollment.merchantId);
    })();
  }

  findMerchant(merchantId: string): Merchant | undefined {
    const row = this.statements
      .sql<[string], MerchantRow>(`SELECT ${merchantColumns} FROM registry_merchants WHERE merchant_id = ?`)
      .get(merchantId);
    return row ? toMerchant(row) : undefined;
  }

  getMerchant(merchantId: string): Merchant {
    const merchant = this.findMerchant(merchantId);
    if (!merchant) throw new TapwireError(`unknown merchant ${merchantId}`, ErrorCode.UnknownMerchant, { merchantId });
    return merchant;
  }

  listMerchants(): Merchant[] {
    return this.statements
      .sql<[number], MerchantRow>(`SELECT ${merchantColumns} FROM registry_merchants ORDER BY merchant_id LIMIT ?`)
      .all(registryListMax)
      .map(toMerchant);
  }

  enrollHub(enrollment: HubEnrollment): Hub {
    requireId(enrollment.hubId, "hubId");
    requireId(enrollment.merchantId, "merchantId");
    if (enrollment.certificateSerial.length === 0 || enrollment.certificateSerial.length > certificateSerialMax) {
      throw new TapwireError(`certificateSerial must be 1-${certificateSerialMax} characters`, ErrorCode.SchemaInvalid);
    }
    this.publicKeyOf(enrollment.publicKeyPem);
    return this.db.transaction(() => {
      if (this.findHub(enrollment.hubId)) {
        throw new TapwireError(`hub ${enrollment.hubId} is already enrolled`, ErrorCode.HubAlreadyEnrolled, { hubId: enrollment.hubId });
      }
      this.getMerchant(enrollment.merchantId);
      this.statements
        .sql<[string, string, string, string, number]>(
          `INSERT INTO registry_hubs (hub_id, merchant_id, public_key_pem, status, last_seq, certificate_serial, enrolled_at_ms)
           VALUES (?, ?, ?, 'active', 0, ?, ?)`,
        )
        .run(enrollment.hubId, enrollment.merchantId, enrollment.publicKeyPem, enrollment.certificateSerial, this.clock.nowMs());
      return this.getHub(enrollment.hubId);
    })();
  }

  /**
   * Marks the hub revoked (settlement refuses its messages from the next one on, including those already
   * queued) and tells every onRevoked listener, e.g. the broker, which disconnects it. Revoking twice is a no-op.
   */
  revokeHub(hubId: string): Hub {
    const hub = this.getHub(hubId);
    if (hub.status === "revoked") return hub;
    this.statements
      .sql<[number, string]>("UPDATE registry_hubs SET status = 'revoked', revoked_at_ms = ? WHERE hub_id = ?")
      .run(this.clock.nowMs(), hubId);
    const revoked = this.getHub(hubId);
    log.info({ hubId }, "hub revoked");
    for (const listener of this.revokedListeners) {
      try {
        listener(revoked);
      } catch (error) {
        log.error({ hubId, err: error }, "onRevoked listener failed");
      }
    }
    return revoked;
  }

  /** Returns the function that removes the listener. */
  onRevoked(listener: RevokedListener): () => void {
    assert(this.revokedListeners.size < revokedListenersMax, `more than ${revokedListenersMax} onRevoked listeners`);
    this.revokedListeners.add(listener);
    return () => this.revokedListeners.delete(listener);
  }

  findHub(hubId: string): Hub | undefined {
    const row = this.statements.sql<[string], HubRow>(`SELECT ${hubColumns} FROM registry_hubs WHERE hub_id = ?`).get(hubId);
    return row ? toHub(row) : undefined;
  }

  getHub(hubId: string): Hub {
    const hub = this.findHub(hubId);
    if (!hub) throw new TapwireError(`unknown hub ${hubId}`, ErrorCode.UnknownHub, { hubId });
    return hub;
  }

  /** getHub that also refuses a revoked hub (HubRevoked). */
  getActiveHub(hubId: string): Hub {
    const hub = this.getHub(hubId);
    if (hub.status !== "active") throw new TapwireError(`hub ${hubId} is revoked`, ErrorCode.HubRevoked, { hubId });
    return hub;
  }

  listHubs(): Hub[] {
    return this.statements
      .sql<[number], HubRow>(`SELECT ${hubColumns} FROM registry_hubs ORDER BY hub_id LIMIT ?`)
      .all(registryListMax)
      .map(toHub);
  }

  /** Hubs revoked at or after `sinceMs`, oldest first (at most registryListMax): what a poller has not seen yet. */
  hubsRevokedSince(sinceMs: number): Array<{ hubId: string; revokedAtMs: number }> {
    return this.statements
      .sql<[number, number], { hub_id: string; revoked_at_ms: number }>(
        `SELECT hub_id, revoked_at_ms FROM registry_hubs WHERE status = 'revoked' AND revoked_at_ms >= ? ORDER BY revoked_at_ms LIMIT ?`,
      )
      .all(sinceMs, registryListMax)
      .map((row) => ({ hubId: row.hub_id, revokedAtMs: row.revoked_at_ms }));
  }

  hubPublicKey(hub: Hub): KeyObject {
    return this.publicKeyOf(hub.publicKeyPem);
  }

  /**
   * Settlement only, inside its transaction: moves an active hub's seq forward to `seq` and returns the hub as
   * it now is, in one statement. Undefined, changing nothing, when the hub is unknown, revoked, or already at
   * or past `seq`: the caller then finds out which, and refuses the request.
   */
  advanceHubSeq(hubId: string, seq: number): Hub | undefined {
    const row = this.statements
      .sql<[number, string, number], HubRow>(
        `UPDATE registry_hubs SET last_seq = ? WHERE hub_id = ? AND status = 'active' AND last_seq < ? RETURNING ${hubColumns}`,
      )
      .get(seq, hubId, seq);
    return row ? toHub(row) : undefined;
  }

  enrollWallet(enrollment: WalletEnrollment): Wallet {
    requireId(enrollment.walletId, "walletId");
    assertMoney(enrollment.perPaymentMaxMinor, enrollment.currency);
    this.publicKeyOf(enrollment.publicKeyPem);
    return this.db.transaction(() => {
      if (this.findWallet(enrollment.walletId)) {
        throw new TapwireError(`wallet ${enrollment.walletId} is already enrolled`, ErrorCode.WalletAlreadyEnrolled, {
          walletId: enrollment.walletId,
        });
      }
      this.ledger.ensureAccount(walletAccountId(enrollment.walletId), enrollment.currency);
      this.statements
        .sql<[string, string, string, number, number]>(
          `INSERT INTO registry_wallets (wallet_id, public_key_pem, currency, per_payment_max_minor, last_atc, enrolled_at_ms)
           VALUES (?, ?, ?, ?, 0, ?)`,
        )
        .run(enrollment.walletId, enrollment.publicKeyPem, enrollment.currency, enrollment.perPaymentMaxMinor, this.clock.nowMs());
      return this.getWallet(enrollment.walletId);
    })();
  }

  findWallet(walletId: string): Wallet | undefined {
    const row = this.statements.sql<[string], WalletRow>(`SELECT ${walletColumns} FROM registry_wallets WHERE wallet_id = ?`).get(walletId);
    return row ? toWallet(row) : undefined;
  }

  getWallet(walletId: string): Wallet {
    const wallet = this.findWallet(walletId);
    if (!wallet) throw new TapwireError(`unknown wallet ${walletId}`, ErrorCode.UnknownWallet, { walletId });
    return wallet;
  }

  walletPublicKey(wallet: Wallet): KeyObject {
    return this.publicKeyOf(wallet.publicKeyPem);
  }

  /** Money entering the system: funding:<CUR> → wallet:<id>. */
  fundWallet(walletId: string, amountMinor: number): Transfer {
    const wallet = this.getWallet(walletId);
    assertMoney(amountMinor, wallet.currency);
    return this.db.transaction(() => {
      this.ledger.ensureAccount(fundingAccountId(wallet.currency), wallet.currency);
      return this.ledger.postTransfer({
        debitAccountId: fundingAccountId(wallet.currency),
        creditAccountId: walletAccountId(walletId),
        amountMinor,
        currency: wallet.currency,
        kind: "funding",
        reference: `funding/${walletId}`,
      });
    })();
  }

  /** Settlement only: consumes an HCE counter inside its transaction. */
  recordWalletAtc(walletId: string, atc: number): void {
    assert(Number.isSafeInteger(atc) && atc > 0, `atc ${atc}`);
    const result = this.statements
      .sql<[number, string, number]>("UPDATE registry_wallets SET last_atc = ? WHERE wallet_id = ? AND last_atc < ?")
      .run(atc, walletId, atc);
    assert(result.changes === 1, `wallet ${walletId} atc ${atc} must move forward`);
  }

  private publicKeyOf(pem: string): KeyObject {
    let key = this.publicKeys.get(pem);
    if (!key) {
      key = importPublicPem(pem);
      // Keys are few (one per device); dropping the whole cache when full keeps it bounded without bookkeeping.
      if (this.publicKeys.size >= publicKeysCachedMax) this.publicKeys.clear();
      this.publicKeys.set(pem, key);
    }
    return key;
  }
}

function requireId(value: string, field: string): void {
  if (!isId(value)) throw new TapwireError(`${field} ${JSON.stringify(value)} is not a valid id`, ErrorCode.SchemaInvalid, { field });
}
