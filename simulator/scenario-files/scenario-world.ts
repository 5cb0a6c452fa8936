import type { OfflineLimits } from "../../protocol/contract.ts";
import { SeededRandom } from "../../core/sources.ts";
import type { MandateTerms } from "../world/sim-agent.ts";
import { SimWorld, type WorldPlan } from "../world/world.ts";
import type { Scenario } from "./scenario-schema.ts";
import type { OfflineLimitsSpec, WorldSpec } from "./world-schema.ts";

/** Campaigns of a scenario run from the start of its world for this long. */
const campaignWindowMs = 30 * 24 * 3_600_000;
const operatorId = "scenario";

/** The world of a scenario, with what its file names, looked up by id. */
export interface ScenarioWorld {
  world: SimWorld;
  /** Each agent's mandates, by mandate id: the terms it pays under and the wallet that granted them. */
  mandates: Map<string, { terms: MandateTerms; walletId: string }>;
}

function limitsOf(spec: OfflineLimitsSpec): OfflineLimits {
  return { saleMaxMinor: spec.saleMax.amountMinor, totalMaxMinor: spec.totalMax.amountMinor, countMax: spec.countMax, ageMsMax: spec.ageMax };
}

/** Which hubs lose power or reboot, so their journals go to files that outlive the crash. */
function rebootingHubs(scenario: Scenario): Set<string> {
  const hubs = new Set<string>();
  for (const { action } of scenario.steps) {
    if (action.name === "fault" && (action.spec.kind === "powerCut" || action.spec.kind === "reboot")) hubs.add(action.spec.hub);
    if (action.name === "heal") for (const hub of scenario.world.hubs) hubs.add(hub.id);
  }
  return hubs;
}

export function planOf(scenario: Scenario): WorldPlan {
  const world: WorldSpec = scenario.world;
  const currencyOf = new Map(world.merchants.map((merchant) => [merchant.id, merchant.currency]));
  const rebooting = rebootingHubs(scenario);
  const kills = scenario.steps.some(({ action }) => action.name === "heal" || (action.name === "fault" && action.spec.kind === "settlementKill"));
  return {
    currency: world.merchants[0]!.currency,
    merchants: world.merchants.map((merchant) => ({
      merchantId: merchant.id,
      currency: merchant.currency,
      offlineLimits: merchant.offlineLimits ? limitsOf(merchant.offlineLimits) : undefined,
    })),
    hubs: world.hubs.map((hub) => ({
      hubId: hub.id,
      merchantId: hub.merchant,
      offline: hub.offline ? { currency: currencyOf.get(hub.merchant)!, limits: limitsOf(hub.offline) } : undefined,
      reboots: rebooting.has(hub.id),
    })),
    wallets: world.wallets.map((wallet) => ({
      walletId: wallet.id,
      fundMinor: wallet.funds.amountMinor,
      perPaymentMaxMinor: wallet.perPaymentMax.amountMinor,
      currency: wallet.funds.currency,
    })),
    agents: world.agents.map((agent) => ({ agentId: agent.id })),
    glasses: world.glasses.map((glasses) => ({
      glassesId: glasses.id,
      hubId: glasses.hub,
      merchantId: glasses.merchant,
      walletId: glasses.wallet,
      ownerId: glasses.owner,
      lang: glasses.lang,
    })),
    settlementKills: kills,
  };
}

/**
 * Builds and starts the scenario's world on a fresh virtual clock with the seed's randomness, then sets what the
 * file asks for at the start: hub clock skews, campaigns, and every mandate granted by its wallet (at time 0).
 */
export async function createScenarioWorld(scenario: Scenario, seed: number): Promise<ScenarioWorld> {
  const world = await SimWorld.create(planOf(scenario), { random: new SeededRandom(seed), keepTrace: true });
  try {
    for (const spec of scenario.world.hubs) {
      if (spec.clockSkew !== undefined) world.hubs.find((hub) => hub.hubId === spec.id)!.skewMs = spec.clockSkew;
    }
    for (const campaign of scenario.world.campaigns) addCampaign(world, campaign);
    return { world, mandates: grantMandates(world, scenario.world) };
  } catch (error) {
    await world.close();
    throw error;
  }
}

function addCampaign(world: SimWorld, campaign: WorldSpec["campaigns"][number]): void {
  const rule = campaign.amountOff
    ? { kind: "amount_off", offMinor: campaign.amountOff.amountMinor }
    : { kind: "percent", percentBps: campaign.percent!.bps, capMinor: campaign.percent!.cap.amountMinor };
  world.settlement.service.campaigns.add(
    {
      campaignId: campaign.id,
      ...(campaign.merchant ? { merchantId: campaign.merchant } : {}),
      currency: campaign.currency,
      rule,
      budgetMinor: campaign.budget.amountMinor,
      startsAtMs: world.nowMs,
      endsAtMs: world.nowMs + campaignWindowMs,
      ...(campaign.minAmount ? { minAmountMinor: campaign.minAmount.amountMinor } : {}),
      ...(campaign.perCustomerMax ? { perCustomerMax: campaign.perCustomerMax } : {}),
      ...(campaign.onExhausted ? { onExhausted: campaign.onExhausted } : {}),
    },
    operatorId,
  );
  world.trace.record("service", `campaign ${campaign.id} added`);
}

function grantMandates(world: SimWorld, spec: WorldSpec): ScenarioWorld["mandates"] {
  const mandates: ScenarioWorld["mandates"] = new Map();
  for (const agentSpec of spec.agents) {
    const agent = world.agents.find((candidate) => candidate.agentId === agentSpec.id)!;
    for (const mandate of agentSpec.mandates) {
      const terms: MandateTerms = {
        mandateId: mandate.id,
        merchantId: mandate.merchant,
        budgetMinor: mandate.budget.amountMinor,
        perPaymentMaxMinor: mandate.perPaymentMax.amountMinor,
        currency: mandate.budget.currency,
        ...(mandate.stepUpAbove ? { stepUpAboveMinor: mandate.stepUpAbove.amountMinor } : {}),
      };
      const wallet = world.wallets.find((candidate) => candidate.walletId === mandate.wallet)!;
      mandates.set(mandate.id, { terms, walletId: mandate.wallet });
      world.later(0, () => wallet.grant(agent.mandate(terms, mandate.wallet)));
    }
  }
  return mandates;
}
