import { assert } from "../../core/assert.ts";
import { encodeBody } from "../../protocol/cbor.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { logger } from "../../core/log.ts";
import type { Clock } from "../../core/sources.ts";
import type { EvidenceStore } from "../evidence/evidence-store.ts";
import { campaignAccountId, fundingAccountId, type Ledger } from "../ledger/ledger.ts";
import type { Registry } from "../registry/registry.ts";
import { parseCampaignDefinition, type CampaignDefinition } from "./campaign-definition.ts";
import { campaignListMax, type CampaignRecord, type CampaignStore } from "./campaign-store.ts";
import { qualifyingCampaignsMax } from "./redemptions.ts";
import type { SqlDb } from "../../core/sql-db.ts";

const log = logger("tapwire:campaigns");

export interface CampaignAdminDeps {
  db: SqlDb;
  ledger: Ledger;
  registry: Registry;
  store: CampaignStore;
  evidence: EvidenceStore;
  clock: Clock;
}

/**
 * An operator defines and stops campaigns. Defining one funds its budget into `campaign:<id>` from
 * `funding:<CUR>`, as wallets are funded; both changes are appended to the evidence chain as operator rows
 * (CBOR `campaign_add` with the whole definition, `campaign_stop`) naming who and when, in the same
 * transaction as the change. A stopped campaign keeps what is left of its budget in its account, so refunds
 * of its discounts still have somewhere to go back to.
 */
export class CampaignAdmin {
  constructor(private readonly deps: CampaignAdminDeps) {}

  /** `input` is checked as parseCampaignDefinition does (ConfigInvalid with `path: message` details). */
  add(input: unknown, operatorId: string): CampaignRecord {
    const definition = parseCampaignDefinition(input);
    const by = operatorPrincipal(operatorId);
    const { db, store, clock } = this.deps;
    return db.transaction(() => {
      const nowMs = clock.nowMs();
      this.checkAddable(definition, nowMs);
      store.insert(definition, by, nowMs);
      this.fund(definition);
      this.deps.evidence.append("operator", by, definition.campaignId, encodeBody({ type: "campaign_add", campaign: definition, by, atMs: nowMs }), nowMs);
      log.info({ campaignId: definition.campaignId, budgetMinor: definition.budgetMinor, currency: definition.currency, by }, "campaign defined");
      const added = store.find(definition.campaignId);
      assert(added, `campaign ${definition.campaignId} missing right after insert`);
      return added;
    }).immediate();
  }

  /** Stops the campaign from the next payment on; stopping a stopped one changes nothing. */
  stop(campaignId: string, operatorId: string): CampaignRecord {
    const by = operatorPrincipal(operatorId);
    const { db, store, clock } = this.deps;
    return db.transaction(() => {
      const nowMs = clock.nowMs();
      const stopped = store.stop(campaignId, by, "operator", nowMs);
      if (!stopped) return this.get(campaignId);
      this.deps.evidence.append("operator", by, campaignId, encodeBody({ type: "campaign_stop", campaignId, by, reason: "operator", atMs: nowMs }), nowMs);
      log.info({ campaignId, by, spentMinor: stopped.spentMinor }, "campaign stopped");
      return stopped;
    }).immediate();
  }

  get(campaignId: string): CampaignRecord {
    const campaign = this.deps.store.find(campaignId);
    if (!campaign) throw new TapwireError(`no campaign ${campaignId}`, ErrorCode.UnknownCampaign, { campaignId });
    return campaign;
  }

  list(filter: { merchantId?: string | undefined } = {}): CampaignRecord[] {
    return this.deps.store.list({ merchantId: filter.merchantId, limit: campaignListMax });
  }

  private checkAddable(d: CampaignDefinition, nowMs: number): void {
    const { store, registry } = this.deps;
    if (store.find(d.campaignId)) {
      throw new TapwireError(`campaign ${d.campaignId} is already defined`, ErrorCode.CampaignAlreadyDefined, { campaignId: d.campaignId });
    }
    if (d.merchantId !== undefined) {
      const merchant = registry.getMerchant(d.merchantId);
      if (merchant.currency !== d.currency) {
        throw new TapwireError(`merchant ${merchant.merchantId} takes ${merchant.currency}, campaign is in ${d.currency}`, ErrorCode.CurrencyMismatch);
      }
    }
    if (d.endsAtMs <= nowMs) {
      throw new TapwireError(`campaign ${d.campaignId} would end at ${d.endsAtMs}, not after now ${nowMs}`, ErrorCode.ConfigInvalid, { campaignId: d.campaignId });
    }
    // Every payment reads its qualifying campaigns; their number is what bounds that read.
    if (store.openCount(d.currency, nowMs) >= qualifyingCampaignsMax) {
      throw new TapwireError(`${qualifyingCampaignsMax} campaigns in ${d.currency} are open already`, ErrorCode.LimitExceeded, { currency: d.currency });
    }
  }

  private fund(d: CampaignDefinition): void {
    const { ledger } = this.deps;
    ledger.ensureAccount(fundingAccountId(d.currency), d.currency);
    ledger.ensureAccount(campaignAccountId(d.campaignId), d.currency);
    ledger.postTransfer({
      debitAccountId: fundingAccountId(d.currency),
      creditAccountId: campaignAccountId(d.campaignId),
      amountMinor: d.budgetMinor,
      currency: d.currency,
      kind: "funding",
      reference: `campaigns/${d.campaignId}`,
    });
  }
}

function operatorPrincipal(operatorId: string): string {
  if (!isId(operatorId)) throw new TapwireError(`operator ${JSON.stringify(operatorId)} is not a valid id`, ErrorCode.ConfigInvalid, { field: "operator" });
  return `operators/${operatorId}`;
}
