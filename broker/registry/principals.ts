import type { OfflineLimits } from "../../protocol/contract.ts";
import { checkedOfflineLimits } from "./offline-limits.ts";

/**
 * The principals the registry knows (merchants, hubs, wallets, agents), their enrolments, and how each is
 * read from and written to its table.
 */

export type HubStatus = "active" | "revoked";

export interface Merchant {
  merchantId: string;
  /** The currency of the merchant's ledger account; payments in another currency are refused. */
  currency: string;
  displayName: string;
  enrolledAtMs: number;
  /** The floor limits its hubs may approve offline sales under; undefined: no offline sales for this merchant. */
  offlineLimits: OfflineLimits | undefined;
}

export interface Hub {
  hubId: string;
  merchantId: string;
  publicKeyPem: string;
  status: HubStatus;
  /** Highest request seq accepted from this hub; below it, the anti-replay window (seq-window.ts) says which were. */
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
  /**
   * Highest HCE application transaction counter accepted; an online payment's must be greater, a late
   * offline capture's only unused (see consumeWalletAtc).
   */
  lastAtc: number;
  status: "active" | "revoked";
  enrolledAtMs: number;
}

export interface MerchantEnrollment {
  merchantId: string;
  currency: string;
  displayName?: string;
  /** Omitted: the merchant accepts no offline sales until setOfflineLimits. */
  offlineLimits?: OfflineLimits;
}

/**
 * How an HCE counter is consumed. `forward` (an online payment, made now): above every counter accepted so
 * far, as EMV terminals require. `unused` (an offline capture forwarded late, when the phone may have paid
 * online since): only never consumed before.
 */
export type AtcRule = "forward" | "unused";

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

export type AgentStatus = "active" | "revoked";

export interface Agent {
  agentId: string;
  /** The key of the agent's client certificate (its MQTT identity); mandates name their own closing key. */
  publicKeyPem: string;
  status: AgentStatus;
  certificateSerial: string;
  enrolledAtMs: number;
  revokedAtMs: number | undefined;
}

export interface AgentEnrollment {
  agentId: string;
  publicKeyPem: string;
  certificateSerial: string;
}

export interface HubRow {
  hub_id: string;
  merchant_id: string;
  public_key_pem: string;
  status: HubStatus;
  last_seq: number;
  certificate_serial: string;
  enrolled_at_ms: number;
  revoked_at_ms: number | null;
}

export interface WalletRow {
  wallet_id: string;
  public_key_pem: string;
  currency: string;
  per_payment_max_minor: number;
  last_atc: number;
  status: "active" | "revoked";
  enrolled_at_ms: number;
}

export interface MerchantRow {
  merchant_id: string;
  currency: string;
  display_name: string;
  enrolled_at_ms: number;
  offline_sale_max_minor: number | null;
  offline_total_max_minor: number | null;
  offline_count_max: number | null;
  offline_age_ms_max: number | null;
}

export interface AgentRow {
  agent_id: string;
  public_key_pem: string;
  status: AgentStatus;
  certificate_serial: string;
  enrolled_at_ms: number;
  revoked_at_ms: number | null;
}

export const agentColumns = "agent_id, public_key_pem, status, certificate_serial, enrolled_at_ms, revoked_at_ms";

export const toAgent = (r: AgentRow): Agent => ({
  agentId: r.agent_id,
  publicKeyPem: r.public_key_pem,
  status: r.status,
  certificateSerial: r.certificate_serial,
  enrolledAtMs: r.enrolled_at_ms,
  revokedAtMs: r.revoked_at_ms ?? undefined,
});

export const hubColumns = "hub_id, merchant_id, public_key_pem, status, last_seq, certificate_serial, enrolled_at_ms, revoked_at_ms";
export const walletColumns = "wallet_id, public_key_pem, currency, per_payment_max_minor, last_atc, status, enrolled_at_ms";
export const merchantColumns =
  "merchant_id, currency, display_name, enrolled_at_ms, offline_sale_max_minor, offline_total_max_minor, offline_count_max, offline_age_ms_max";

export const toHub = (r: HubRow): Hub => ({
  hubId: r.hub_id,
  merchantId: r.merchant_id,
  publicKeyPem: r.public_key_pem,
  status: r.status,
  lastSeq: r.last_seq,
  certificateSerial: r.certificate_serial,
  enrolledAtMs: r.enrolled_at_ms,
  revokedAtMs: r.revoked_at_ms ?? undefined,
});

export const toWallet = (r: WalletRow): Wallet => ({
  walletId: r.wallet_id,
  publicKeyPem: r.public_key_pem,
  currency: r.currency,
  perPaymentMaxMinor: r.per_payment_max_minor,
  lastAtc: r.last_atc,
  status: r.status,
  enrolledAtMs: r.enrolled_at_ms,
});

export const toMerchant = (r: MerchantRow): Merchant => ({
  merchantId: r.merchant_id,
  currency: r.currency,
  displayName: r.display_name,
  enrolledAtMs: r.enrolled_at_ms,
  offlineLimits: offlineLimitsOf(r),
});

/** The schema keeps the four columns all set or all null. */
function offlineLimitsOf(r: MerchantRow): OfflineLimits | undefined {
  if (r.offline_sale_max_minor === null || r.offline_total_max_minor === null || r.offline_count_max === null || r.offline_age_ms_max === null) {
    return undefined;
  }
  return { saleMaxMinor: r.offline_sale_max_minor, totalMaxMinor: r.offline_total_max_minor, countMax: r.offline_count_max, ageMsMax: r.offline_age_ms_max };
}

export type OfflineLimitColumns = [number | null, number | null, number | null, number | null];

export function offlineLimitColumns(limits: OfflineLimits | undefined): OfflineLimitColumns {
  if (limits === undefined) return [null, null, null, null];
  const checked = checkedOfflineLimits(limits);
  return [checked.saleMaxMinor, checked.totalMaxMinor, checked.countMax, checked.ageMsMax];
}
