/*
 * Over 300 lines on purpose: this is the one registry of principals (merchants, hubs, wallets, agents; issue 10
 * merged the agents' own registry into it), a block of enroll/find/get/list per kind over one statement cache
 * and one key cache. The types and row mapping are in principals.ts.
 */
import type { KeyObject } from "node:crypto";
import { assert } from "../../core/assert.ts";
import type { OfflineLimits } from "../../protocol/contract.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { logger } from "../../core/log.ts";
import { assertMoney, isCurrency } from "../../protocol/money.ts";
import type { Clock } from "../../core/sources.ts";
import { fundingAccountId, merchantAccountId, walletAccountId, type Ledger, type Transfer } from "../ledger/ledger.ts";
import { StatementCache } from "../ledger/sqlite-db.ts";
import {
  agentColumns,
  hubColumns,
  merchantColumns,
  offlineLimitColumns,
  toAgent,
  toHub,
  toMerchant,
  toWallet,
  walletColumns,
  type Agent,
  type AgentEnrollment,
  type AgentRow,
  type AtcRule,
  type Hub,
  type HubEnrollment,
  type HubRow,
  type Merchant,
  type MerchantEnrollment,
  type MerchantRow,
  type OfflineLimitColumns,
  type Wallet,
  type WalletEnrollment,
  type WalletRow,
} from "./principals.ts";
import { acceptSeq, emptySeqWindow, type SeqWindow } from "./seq-window.ts";
import { PublicKeyCache } from "./public-keys.ts";
import type { SqlDb } from "../../core/sql-db.ts";
import { pooledCopy } from "../../protocol/bytes.ts";

// Every payment runs these: texts built once, as the statement cache looks a text built per call up in ~0.37 µs
// (a fresh string to hash) against ~0.02 for the same string (core/statement-cache.ts).
const findMerchantSql = `SELECT ${merchantColumns} FROM registry_merchants WHERE merchant_id = ?`;
const findHubSql = `SELECT ${hubColumns} FROM registry_hubs WHERE hub_id = ?`;
const activeHubWithWindowSql = `SELECT ${hubColumns}, seq_seen FROM registry_hubs WHERE hub_id = ? AND status = 'active'`;
const findWalletSql = `SELECT ${walletColumns} FROM registry_wallets WHERE wallet_id = ?`;

const log = logger("tapwire:registry");

export type RevokedListener = (hub: Hub) => void;

/** Bounds on the registry's in-memory state and on list answers. */
export const revokedListenersMax = 64;
export const publicKeysCachedMax = 10_000;
export const registryListMax = 10_000;
const displayNameMax = 100;
const certificateSerialMax = 64;

/**
 * Who may talk to the settlement service and with which key: merchants, their hubs, wallets, and agents. Every
 * write that enrolls also opens the matching ledger account in the same transaction, so a wallet never exists
 * without its account. The agents' table belongs to the agents schema component (agent-schema.ts), migrated
 * with the mandates it is named in.
 */
export class Registry {
  private readonly statements: StatementCache;
  private readonly revokedListeners = new Set<RevokedListener>();
  private readonly publicKeys = new PublicKeyCache(publicKeysCachedMax);

  constructor(
    private readonly db: SqlDb,
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
    const limits = offlineLimitColumns(enrollment.offlineLimits);
    return this.db.transaction(() => {
      if (this.findMerchant(enrollment.merchantId)) {
        throw new TapwireError(`merchant ${enrollment.merchantId} is already enrolled`, ErrorCode.MerchantAlreadyEnrolled, {
          merchantId: enrollment.merchantId,
        });
      }
      this.ledger.ensureAccount(merchantAccountId(enrollment.merchantId), enrollment.currency);
      this.statements
        .sql<[string, string, string, number, ...OfflineLimitColumns]>(`INSERT INTO registry_merchants (${merchantColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(enrollment.merchantId, enrollment.currency, displayName, this.clock.nowMs(), ...limits);
      return this.getMerchant(enrollment.merchantId);
    })();
  }

  /**
   * Sets the merchant's offline floor limits (each within the contract's ceilings, else ConfigInvalid), or
   * with undefined stops its offline sales: captures forwarded from then on are declined OfflineNotAllowed.
   */
  setOfflineLimits(merchantId: string, limits: OfflineLimits | undefined): Merchant {
    const columns = offlineLimitColumns(limits);
    const row = this.statements
      .sql<[...OfflineLimitColumns, string], MerchantRow>(
        `UPDATE registry_merchants SET offline_sale_max_minor = ?, offline_total_max_minor = ?, offline_count_max = ?, offline_age_ms_max = ?
         WHERE merchant_id = ? RETURNING ${merchantColumns}`,
      )
      .get(...columns, merchantId);
    if (!row) throw new TapwireError(`unknown merchant ${merchantId}`, ErrorCode.UnknownMerchant, { merchantId });
    log.info({ merchantId, offlineLimits: limits ?? "off" }, "merchant offline limits set");
    return toMerchant(row);
  }

  findMerchant(merchantId: string): Merchant | undefined {
    const row = this.statements
      .sql<[string], MerchantRow>(findMerchantSql)
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
    requireCertificateSerial(enrollment.certificateSerial);
    this.publicKeys.get(enrollment.publicKeyPem);
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
    const row = this.statements.sql<[string], HubRow>(findHubSql).get(hubId);
    return row ? toHub(row) : undefined;
  }

  getHub(hubId: string): Hub {
    const hub = this.findHub(hubId);
    if (!hub) throw new TapwireError(`unknown hub ${hubId}`, ErrorCode.UnknownHub, { hubId });
    return hub;
  }

  /** getHub that also refuses a revoked hub (Revoked). */
  getActiveHub(hubId: string): Hub {
    const hub = this.getHub(hubId);
    if (hub.status !== "active") throw new TapwireError(`hub ${hubId} is revoked`, ErrorCode.Revoked, { hubId });
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
    return this.publicKeys.get(hub.publicKeyPem);
  }

  /**
   * Settlement only, inside its transaction: accepts `seq` into an active hub's anti-replay window
   * (seq-window.ts) and returns the hub as it now is. Undefined, changing nothing, when the hub is unknown,
   * revoked, or the window refuses the seq: the caller then finds out which (seqRefusal), and refuses the request.
   */
  advanceHubSeq(hubId: string, seq: number): Hub | undefined {
    // One read of the hub with its window and a plain update: 4.0 + 9.5 µs (the window, then an UPDATE … RETURNING
    // the hub) became 6.1 + 3.1 µs (bench/count-statements.ts, 5,000 payments). Both run in the caller's write transaction.
    const row = this.statements
      .sql<[string], HubRow & { seq_seen: Buffer | null }>(activeHubWithWindowSql)
      .get(hubId);
    if (!row) return undefined;
    const next = acceptSeq(seqWindowOf(row), seq);
    if (next instanceof TapwireError) return undefined;
    const { changes } = this.statements
      .sql<[number, Uint8Array, string]>("UPDATE registry_hubs SET last_seq = ?, seq_seen = ? WHERE hub_id = ?")
      .run(next.topSeq, next.seenBelow, hubId);
    assert(changes === 1, `active hub ${hubId} was just read`);
    return toHub({ ...row, last_seq: next.topSeq });
  }

  /** Why the window of an active hub refuses `seq` (SeqReplayed, SeqBelowWindow); a bug if it would accept it. */
  seqRefusal(hubId: string, seq: number): TapwireError {
    const window = this.hubSeqWindow(hubId);
    assert(window, `hub ${hubId} is active`);
    const refusal = acceptSeq(window, seq);
    assert(refusal instanceof TapwireError, `hub ${hubId} seq ${seq} passed every gate but was not consumed`);
    return refusal;
  }

  /** An active hub's anti-replay window; undefined for an unknown or revoked hub. */
  hubSeqWindow(hubId: string): SeqWindow | undefined {
    const row = this.statements
      .sql<[string], { last_seq: number; seq_seen: Buffer | null }>("SELECT last_seq, seq_seen FROM registry_hubs WHERE hub_id = ? AND status = 'active'")
      .get(hubId);
    return row ? seqWindowOf(row) : undefined;
  }

  enrollWallet(enrollment: WalletEnrollment): Wallet {
    requireId(enrollment.walletId, "walletId");
    assertMoney(enrollment.perPaymentMaxMinor, enrollment.currency);
    this.publicKeys.get(enrollment.publicKeyPem);
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
    const row = this.statements.sql<[string], WalletRow>(findWalletSql).get(walletId);
    return row ? toWallet(row) : undefined;
  }

  getWallet(walletId: string): Wallet {
    const wallet = this.findWallet(walletId);
    if (!wallet) throw new TapwireError(`unknown wallet ${walletId}`, ErrorCode.UnknownWallet, { walletId });
    return wallet;
  }

  /** getWallet that also refuses a revoked wallet (Revoked): what every payment by the wallet goes through. */
  getActiveWallet(walletId: string): Wallet {
    const wallet = this.getWallet(walletId);
    if (wallet.status !== "active") throw new TapwireError(`wallet ${walletId} is revoked`, ErrorCode.Revoked, { walletId });
    return wallet;
  }

  /** The wallet pays no more (refunds to it still land); revoking twice is a no-op. */
  revokeWallet(walletId: string): Wallet {
    this.getWallet(walletId);
    this.statements.sql<[number, string]>("UPDATE registry_wallets SET status = 'revoked', revoked_at_ms = ? WHERE wallet_id = ? AND status = 'active'").run(this.clock.nowMs(), walletId);
    log.info({ walletId }, "wallet revoked");
    return this.getWallet(walletId);
  }

  /**
   * The hub's new key and certificate replace the old ones in one statement: from now on its requests verify only
   * with the new key. The caller puts the old certificate's serial on the revoked list in the same transaction.
   */
  rotateHubKey(hubId: string, publicKeyPem: string, certificateSerial: string): Hub {
    requireCertificateSerial(certificateSerial);
    this.publicKeys.get(publicKeyPem);
    this.getActiveHub(hubId);
    this.statements.sql<[string, string, string]>("UPDATE registry_hubs SET public_key_pem = ?, certificate_serial = ? WHERE hub_id = ?").run(publicKeyPem, certificateSerial, hubId);
    log.info({ hubId, certificateSerial }, "hub key rotated");
    return this.getHub(hubId);
  }

  walletPublicKey(wallet: Wallet): KeyObject {
    return this.publicKeys.get(wallet.publicKeyPem);
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

  /**
   * Settlement only, inside its transaction: consumes one HCE counter of an enrolled wallet under `rule`
   * (see AtcRule), recording it and moving lastAtc up to it. A counter consumed before, or one not above the
   * wallet's lastAtc under `forward`, is refused with CounterReplayed: a cloned phone replaying any ATC fails.
   */
  consumeWalletAtc(walletId: string, atc: number, rule: AtcRule, nowMs: number): void {
    assert(Number.isSafeInteger(atc) && atc > 0, `atc ${atc}`);
    if (rule === "forward") return this.consumeAtcForward(walletId, atc, nowMs);
    const row = this.atcState(walletId);
    const recorded = atc > row.atc_tracked_above && this.recordAtc(walletId, atc, nowMs);
    if (!recorded) throw new TapwireError(`ATC ${atc} was already used`, ErrorCode.CounterReplayed, { walletId, atc });
    this.statements.sql<[number, string, number]>("UPDATE registry_wallets SET last_atc = ? WHERE wallet_id = ? AND last_atc < ?").run(atc, walletId, atc);
  }

  /**
   * A payment made now: the counter must be above lastAtc, which the update itself checks (no read first: 3 statements
   * became 2). Every recorded counter is at most lastAtc (both rules raise lastAtc to what they record) and
   * atc_tracked_above was lastAtc once, so one above lastAtc is always new to the table.
   */
  private consumeAtcForward(walletId: string, atc: number, nowMs: number): void {
    const { changes } = this.statements
      .sql<[number, string, number]>("UPDATE registry_wallets SET last_atc = ? WHERE wallet_id = ? AND last_atc < ?")
      .run(atc, walletId, atc);
    if (changes === 0) {
      const row = this.atcState(walletId);
      throw new TapwireError(`ATC ${atc} is not above ${row.last_atc}`, ErrorCode.CounterReplayed, { walletId, atc });
    }
    assert(this.recordAtc(walletId, atc, nowMs), `ATC ${atc} above wallet ${walletId}'s lastAtc was already recorded`);
  }

  private atcState(walletId: string): { last_atc: number; atc_tracked_above: number } {
    const row = this.statements
      .sql<[string], { last_atc: number; atc_tracked_above: number }>("SELECT last_atc, atc_tracked_above FROM registry_wallets WHERE wallet_id = ?")
      .get(walletId);
    assert(row, `wallet ${walletId} is enrolled before its counter is consumed`);
    return row;
  }

  /** False when the counter was recorded before. */
  private recordAtc(walletId: string, atc: number, nowMs: number): boolean {
    return (
      this.statements
        .sql<[string, number, number]>("INSERT INTO registry_wallet_atcs (wallet_id, atc, consumed_at_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
        .run(walletId, atc, nowMs).changes === 1
    );
  }

  /** Which agents may connect and publish on `tapwire/v1/agents/<id>/req`. */
  enrollAgent(enrollment: AgentEnrollment): Agent {
    requireId(enrollment.agentId, "agentId");
    this.publicKeys.get(enrollment.publicKeyPem);
    return this.db.transaction(() => {
      if (this.findAgent(enrollment.agentId)) {
        throw new TapwireError(`agent ${enrollment.agentId} is already enrolled`, ErrorCode.AgentAlreadyEnrolled, { agentId: enrollment.agentId });
      }
      this.statements
        .sql<[string, string, string, number]>(
          `INSERT INTO agents (agent_id, public_key_pem, status, certificate_serial, enrolled_at_ms) VALUES (?, ?, 'active', ?, ?)`,
        )
        .run(enrollment.agentId, enrollment.publicKeyPem, enrollment.certificateSerial, this.clock.nowMs());
      return this.getAgent(enrollment.agentId);
    })();
  }

  findAgent(agentId: string): Agent | undefined {
    const row = this.statements.sql<[string], AgentRow>(`SELECT ${agentColumns} FROM agents WHERE agent_id = ?`).get(agentId);
    return row ? toAgent(row) : undefined;
  }

  getAgent(agentId: string): Agent {
    const agent = this.findAgent(agentId);
    if (!agent) throw new TapwireError(`unknown agent ${agentId}`, ErrorCode.UnknownAgent, { agentId });
    return agent;
  }

  /** getAgent that also refuses a revoked agent (Revoked). */
  getActiveAgent(agentId: string): Agent {
    const agent = this.getAgent(agentId);
    if (agent.status !== "active") throw new TapwireError(`agent ${agentId} is revoked`, ErrorCode.Revoked, { agentId });
    return agent;
  }

  revokeAgent(agentId: string): Agent {
    this.getAgent(agentId);
    this.statements
      .sql<[number, string]>("UPDATE agents SET status = 'revoked', revoked_at_ms = ? WHERE agent_id = ? AND status = 'active'")
      .run(this.clock.nowMs(), agentId);
    return this.getAgent(agentId);
  }

  listAgents(): Agent[] {
    return this.statements.sql<[number], AgentRow>(`SELECT ${agentColumns} FROM agents ORDER BY agent_id LIMIT ?`).all(registryListMax).map(toAgent);
  }

  agentPublicKey(agent: Agent): KeyObject {
    return this.publicKeys.get(agent.publicKeyPem);
  }
}

function requireId(value: string, field: string): void {
  if (!isId(value)) throw new TapwireError(`${field} ${JSON.stringify(value)} is not a valid id`, ErrorCode.SchemaInvalid, { field });
}

function requireCertificateSerial(serial: string): void {
  if (serial.length === 0 || serial.length > certificateSerialMax) {
    throw new TapwireError(`certificateSerial must be 1-${certificateSerialMax} characters`, ErrorCode.SchemaInvalid);
  }
}

function seqWindowOf(row: { last_seq: number; seq_seen: Buffer | null }): SeqWindow {
  return { topSeq: row.last_seq, seenBelow: row.seq_seen ? pooledCopy(row.seq_seen) : emptySeqWindow().seenBelow };
}
