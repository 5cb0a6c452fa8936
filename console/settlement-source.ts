import { CampaignStore } from "../broker/campaigns/campaign-store.ts";
import { StatementCache, type SqliteDb } from "../broker/ledger/sqlite-db.ts";
import { ReviewStore, type ReviewCase } from "../broker/review/review-store.ts";
import { formatMoney } from "../protocol/money.ts";
import { systemClock, type Clock } from "../core/sources.ts";
import { activityFromEvidence, operatorActionsFromEvidence, type EvidenceEntry } from "./activity.ts";
import type { PresenceView } from "./hub-presence.ts";
import {
  accountsShownMax,
  activityShownMax,
  campaignsShownMax,
  hubsShownMax,
  operatorActionsShownMax,
  reviewsShownMax,
  type AccountView,
  type CampaignView,
  type CurrencySum,
  type DashboardSnapshot,
  type DashboardSource,
  type HubView,
  type ReviewView,
  type ReviewsView,
} from "./snapshot.ts";

/** Newest evidence rows read per snapshot: a decision's request sits next to it, so this covers the ones shown. */
export const evidenceRowsScannedMax = 240;
const contextLinesMax = 4;
const contextLineCharsMax = 80;

export interface SettlementSourceOptions {
  /** The settlement database: the node's own connection in-process, or a read-only one on its file. */
  db: SqliteDb;
  /** Hub online states; without it every hub shows "unknown". */
  presence?: PresenceView;
  /** Shown on the page: where this data comes from. */
  label: string;
  clock?: Clock;
}

interface HubRow {
  hub_id: string;
  merchant_id: string;
  status: string;
}

interface AccountRow {
  account_id: string;
  kind: string;
  currency: string;
  balance_minor: number;
}

interface EvidenceRow {
  seq: number;
  kind: string;
  principal: string;
  request_id: string;
  bytes: Buffer;
  recorded_at_ms: number;
}

/**
 * Builds dashboard snapshots from the settlement database with bounded, read-only queries: hubs from the
 * registry, balances and per-currency sums from the ledger, recent decisions from the evidence chain, the
 * pending review cases. Nothing here writes, so a read-only connection to a running service's file works.
 */
export class SettlementDashboardSource implements DashboardSource {
  private readonly statements: StatementCache;
  private readonly reviews: ReviewStore | undefined;
  private readonly campaigns: CampaignStore | undefined;
  private readonly clock: Clock;

  constructor(private readonly options: SettlementSourceOptions) {
    this.statements = new StatementCache(options.db);
    this.clock = options.clock ?? systemClock;
    const hasReviews = options.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'review_cases'").get() !== undefined;
    this.reviews = hasReviews ? new ReviewStore(options.db) : undefined;
    const hasCampaigns = options.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'campaigns'").get() !== undefined;
    this.campaigns = hasCampaigns ? new CampaignStore(options.db) : undefined;
  }

  /**
   * data_version moves when another connection commits (a running `tapwire settle`), total_changes when this
   * connection writes (the node in the same process); presence has its own counter.
   */
  changeMarker(): string {
    const { db, presence } = this.options;
    const dataVersion = db.pragma("data_version", { simple: true }) as number;
    const ownChanges = this.statements.sql<[], number>("SELECT total_changes()").pluck().get();
    return `${dataVersion}:${ownChanges}:${presence?.version ?? 0}`;
  }

  snapshot(): DashboardSnapshot {
    const readAll = this.options.db.transaction(() => this.read());
    // One read transaction: every table seen at the same commit, so the page never shows half a payment.
    return readAll.deferred();
  }

  private read(): DashboardSnapshot {
    return {
      generatedAtMs: this.clock.nowMs(),
      source: this.options.label,
      presenceConnected: this.options.presence?.connected ?? false,
      hubs: { shown: this.hubs(), total: this.count("registry_hubs") },
      accounts: { shown: this.accounts(), total: this.count("ledger_accounts") },
      ledger: this.ledger(),
      ...this.fromEvidence(),
      reviews: this.reviews ? this.reviewsView(this.reviews) : undefined,
      ...(this.campaigns ? { campaigns: { shown: this.campaignsShown(this.campaigns), total: this.count("campaigns") } } : {}),
    };
  }

  private count(table: "registry_hubs" | "ledger_accounts" | "ledger_transfers" | "campaigns"): number {
    return this.statements.sql<[], number>(`SELECT COUNT(*) FROM ${table}`).pluck().get() ?? 0;
  }

  private hubs(): HubView[] {
    const rows = this.statements
      .sql<[number], HubRow>("SELECT hub_id, merchant_id, status FROM registry_hubs ORDER BY hub_id LIMIT ?")
      .all(hubsShownMax);
    return rows.map((row) => {
      const seen = this.options.presence?.stateOf(row.hub_id);
      return {
        hubId: row.hub_id,
        merchantId: row.merchant_id,
        status: row.status,
        presence: seen?.state ?? "unknown",
        presenceSeenAtMs: seen?.seenAtMs,
      };
    });
  }

  private accounts(): AccountView[] {
    const rows = this.statements
      .sql<[number], AccountRow>(
        `SELECT account_id, kind, currency, balance_minor FROM ledger_accounts
         ORDER BY CASE kind WHEN 'merchant' THEN 0 WHEN 'wallet' THEN 1 ELSE 2 END, account_id LIMIT ?`,
      )
      .all(accountsShownMax);
    return rows.map((row) => ({
      accountId: row.account_id,
      kind: row.kind,
      currency: row.currency,
      balanceMinor: row.balance_minor,
      balance: formatMoney({ amountMinor: row.balance_minor, currency: row.currency }),
    }));
  }

  private ledger(): DashboardSnapshot["ledger"] {
    const sums: CurrencySum[] = this.statements
      .sql<[], { currency: string; accounts: number; total: number }>(
        "SELECT currency, COUNT(*) AS accounts, SUM(balance_minor) AS total FROM ledger_accounts GROUP BY currency ORDER BY currency",
      )
      .all()
      .map((row) => ({ currency: row.currency, accounts: row.accounts, sumMinor: row.total, sum: formatMoney({ amountMinor: row.total, currency: row.currency }) }));
    return { transfers: this.count("ledger_transfers"), sums, balanced: sums.every((sum) => sum.sumMinor === 0) };
  }

  private fromEvidence(): Pick<DashboardSnapshot, "activity" | "operatorActions"> {
    const rows = this.evidence();
    return { activity: activityFromEvidence(rows, activityShownMax), operatorActions: operatorActionsFromEvidence(rows, operatorActionsShownMax) };
  }

  private evidence(): EvidenceEntry[] {
    return this.statements
      .sql<[number], EvidenceRow>("SELECT seq, kind, principal, request_id, bytes, recorded_at_ms FROM evidence ORDER BY seq DESC LIMIT ?")
      .all(evidenceRowsScannedMax)
      .map((row) => ({
        seq: row.seq,
        kind: row.kind,
        principal: row.principal,
        requestId: row.request_id,
        bytes: row.bytes,
        recordedAtMs: row.recorded_at_ms,
      }));
  }

  private campaignsShown(store: CampaignStore): CampaignView[] {
    return store.list({ limit: campaignsShownMax }).map((c) => ({
      campaignId: c.campaignId,
      merchantId: c.merchantId,
      status: c.status,
      budgetLeftMinor: c.budgetLeftMinor,
      budgetLeft: formatMoney({ amountMinor: c.budgetLeftMinor, currency: c.currency }),
      budget: formatMoney({ amountMinor: c.budgetMinor, currency: c.currency }),
      discountsGiven: c.discountsGiven,
      endsAtMs: c.endsAtMs,
    }));
  }

  private reviewsView(store: ReviewStore): ReviewsView {
    const counts = this.statements
      .sql<[], { status: string; cases: number }>("SELECT status, COUNT(*) AS cases FROM review_cases GROUP BY status ORDER BY status")
      .all();
    return {
      pending: store.list({ status: "pending", limit: reviewsShownMax }).map(toReviewView),
      countsByStatus: Object.fromEntries(counts.map((row) => [row.status, row.cases])),
    };
  }
}

function toReviewView(c: ReviewCase): ReviewView {
  const held = c.held;
  const amount = held.source === "dispute" ? undefined : formatMoney({ amountMinor: held.amountMinor, currency: held.currency });
  return {
    caseId: c.caseId,
    kind: c.kind,
    requester: `${c.requesterKind}s/${c.requesterId}`,
    requestId: c.requestId,
    amount,
    paymentId: held.source === "dispute" ? held.paymentId : undefined,
    reason: c.reason,
    context: Object.entries(c.context)
      .slice(0, contextLinesMax)
      .map(([key, value]) => `${key}: ${value}`.slice(0, contextLineCharsMax)),
    createdAtMs: c.createdAtMs,
    expiresAtMs: c.expiresAtMs,
  };
}
