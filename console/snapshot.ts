import type { DecisionStatus } from "../protocol/messages.ts";

/**
 * What the dashboard page shows, as one JSON document. Every list is cut at a named maximum and carries the
 * total it was cut from; every amount comes both as integer minor units and as a string formatted by
 * protocol/money.ts, so the page never does arithmetic on money.
 */
export const hubsShownMax = 200;
export const accountsShownMax = 200;
export const activityShownMax = 40;
export const reviewsShownMax = 50;
export const campaignsShownMax = 50;
export const operatorActionsShownMax = 20;

/** Retained hub state: what the hub said last ("online", or "offline" by itself or by its Last Will). */
export type Presence = "online" | "offline" | "unknown";

export interface HubView {
  hubId: string;
  merchantId: string;
  /** Registry status: a revoked hub is refused by the broker whatever it publishes. */
  status: string;
  presence: Presence;
  /** When the dashboard received that state (a retained one arrives when the dashboard subscribes). */
  presenceSeenAtMs: number | undefined;
}

export interface AccountView {
  accountId: string;
  kind: string;
  currency: string;
  balanceMinor: number;
  balance: string;
}

export interface CurrencySum {
  currency: string;
  accounts: number;
  sumMinor: number;
  sum: string;
}

export interface LedgerView {
  transfers: number;
  /** Balances summed per currency: double entry makes each one exactly 0. */
  sums: CurrencySum[];
  balanced: boolean;
}

/** One signed decision from the evidence chain, with what its request asked for when that is known. */
export interface ActivityView {
  seq: number;
  atMs: number;
  /** Who asked: `hubs/h1`, `wallets/alice`, `agents/a1`. */
  principal: string;
  hubId: string;
  requestId: string;
  requestType: string;
  mode: string | undefined;
  amountMinor: number | undefined;
  currency: string | undefined;
  amount: string | undefined;
  status: DecisionStatus;
  /** 0 when approved, else a TapwireError code. */
  code: number;
  codeName: string | undefined;
  reason: string;
  caseId: string | undefined;
}

/** An operator's action as the evidence chain records it: who, what, when. */
export interface OperatorActionView {
  seq: number;
  atMs: number;
  /** `operators/<name>`. */
  operator: string;
  /** `approve case c1`, `revoke hubs/h1`. */
  what: string;
  requestId: string;
}

export interface ReviewView {
  caseId: string;
  kind: string;
  requester: string;
  requestId: string;
  amount: string | undefined;
  /** For a dispute: the payment contested. */
  paymentId: string | undefined;
  reason: string;
  /** A few `key: value` lines of what the case holds (utterance, product, risk), each cut short. */
  context: string[];
  createdAtMs: number;
  expiresAtMs: number | undefined;
}

export interface ReviewsView {
  pending: ReviewView[];
  /** Cases by status, pending included. */
  countsByStatus: Record<string, number>;
}

/** A promotion and what is left of its budget. */
export interface CampaignView {
  campaignId: string;
  /** The merchant it is for, or undefined for every merchant in its currency. */
  merchantId: string | undefined;
  status: string;
  budgetLeftMinor: number;
  budgetLeft: string;
  budget: string;
  discountsGiven: number;
  endsAtMs: number;
}

export interface DashboardSnapshot {
  generatedAtMs: number;
  /** Where the data comes from: `demo (in-process)`, `data dir .tapwire`. */
  source: string;
  /** Whether the hub-state subscription is connected; when not, presence is as last seen. */
  presenceConnected: boolean;
  hubs: { shown: HubView[]; total: number };
  accounts: { shown: AccountView[]; total: number };
  ledger: LedgerView;
  activity: ActivityView[];
  /** Operator actions from the evidence chain, newest first. */
  operatorActions: OperatorActionView[];
  /** undefined for a database without review cases. */
  reviews: ReviewsView | undefined;
  /** By campaign id; absent for a database without campaigns tables. */
  campaigns?: { shown: CampaignView[]; total: number };
}

export interface DashboardSource {
  snapshot(): DashboardSnapshot;
  /** Cheap: differs whenever the next snapshot may differ, so an unchanged system costs no snapshot. */
  changeMarker(): string;
}
