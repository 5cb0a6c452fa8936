import { isCurrency, type Money } from "../../protocol/money.ts";
import type { Problems, Scenario } from "./scenario-schema.ts";
import type { Action, Step } from "./step-schema.ts";
import type { Check } from "./expect-schema.ts";

/** The names a scenario defines, by kind, as later parts refer to them. */
interface Names {
  merchants: Map<string, string>;
  tapHubs: Set<string>;
  glassesHubs: Set<string>;
  wallets: Map<string, string>;
  glasses: Set<string>;
  agents: Set<string>;
  /** Mandate id → its agent. */
  mandates: Map<string, string>;
  campaigns: Set<string>;
  /** Step id → the action that defined it. */
  steps: Map<string, Action["name"]>;
}

/**
 * What the schema alone cannot see: every id defined once, every reference naming something defined (of the
 * right kind), and amounts in the currency of the merchant or wallet they belong to. Adds `path: message`s.
 */
export function crossCheck(scenario: Scenario, problems: Problems): void {
  const names = worldNames(scenario, problems);
  scenario.steps.forEach((step, index) => checkStep(step, `steps.${index}`, names, problems));
  for (const expectation of scenario.expectations) checkExpectation(expectation.check, `expect.${expectation.index}.${expectation.check.name}`, names, problems);
}

function defineOnce<T>(map: Map<string, T> | Set<string>, id: string, value: T, path: string, problems: Problems): void {
  if (map.has(id)) problems.push(`${path}: ${JSON.stringify(id)} is defined twice`);
  if (map instanceof Map) map.set(id, value);
  else map.add(id);
}

function requireIn(known: Map<string, unknown> | Set<string>, id: string | undefined, what: string, path: string, problems: Problems): void {
  if (id !== undefined && !known.has(id)) problems.push(`${path}: no ${what} ${JSON.stringify(id)} in the world`);
}

function sameCurrency(money: Money | undefined, currency: string | undefined, path: string, problems: Problems): void {
  if (money !== undefined && currency !== undefined && money.currency !== currency) problems.push(`${path}: must be in ${currency}, got ${money.currency}`);
}

function worldNames(scenario: Scenario, problems: Problems): Names {
  const { world } = scenario;
  const names: Names = {
    merchants: new Map(),
    tapHubs: new Set(),
    glassesHubs: new Set(),
    wallets: new Map(),
    glasses: new Set(),
    agents: new Set(),
    mandates: new Map(),
    campaigns: new Set(),
    steps: new Map(),
  };
  world.merchants.forEach((merchant, index) => {
    const path = `world.merchants.${index}`;
    if (!isCurrency(merchant.currency)) problems.push(`${path}.currency: unknown ISO 4217 currency ${JSON.stringify(merchant.currency)}`);
    defineOnce(names.merchants, merchant.id, merchant.currency, `${path}.id`, problems);
    for (const limit of ["saleMax", "totalMax"] as const) sameCurrency(merchant.offlineLimits?.[limit], merchant.currency, `${path}.offlineLimits.${limit}`, problems);
  });
  world.hubs.forEach((hub, index) => {
    const path = `world.hubs.${index}`;
    defineOnce(names.tapHubs, hub.id, undefined, `${path}.id`, problems);
    requireIn(names.merchants, hub.merchant, "merchant", `${path}.merchant`, problems);
    for (const limit of ["saleMax", "totalMax"] as const) sameCurrency(hub.offline?.[limit], names.merchants.get(hub.merchant), `${path}.offline.${limit}`, problems);
  });
  world.wallets.forEach((wallet, index) => {
    defineOnce(names.wallets, wallet.id, wallet.funds.currency, `world.wallets.${index}.id`, problems);
    sameCurrency(wallet.perPaymentMax, wallet.funds.currency, `world.wallets.${index}.perPaymentMax`, problems);
  });
  world.glasses.forEach((glasses, index) => {
    const path = `world.glasses.${index}`;
    defineOnce(names.glasses, glasses.id, undefined, `${path}.id`, problems);
    if (names.tapHubs.has(glasses.hub)) problems.push(`${path}.hub: ${JSON.stringify(glasses.hub)} is already a tap hub`);
    defineOnce(names.glassesHubs, glasses.hub, undefined, `${path}.hub`, problems);
    requireIn(names.merchants, glasses.merchant, "merchant", `${path}.merchant`, problems);
    requireIn(names.wallets, glasses.wallet, "wallet", `${path}.wallet`, problems);
  });
  world.agents.forEach((agent, index) => {
    defineOnce(names.agents, agent.id, undefined, `world.agents.${index}.id`, problems);
    agent.mandates.forEach((mandate, at) => {
      const path = `world.agents.${index}.mandates.${at}`;
      defineOnce(names.mandates, mandate.id, agent.id, `${path}.id`, problems);
      requireIn(names.wallets, mandate.wallet, "wallet", `${path}.wallet`, problems);
      requireIn(names.merchants, mandate.merchant, "merchant", `${path}.merchant`, problems);
      for (const amount of ["budget", "perPaymentMax", "stepUpAbove"] as const) sameCurrency(mandate[amount], names.merchants.get(mandate.merchant), `${path}.${amount}`, problems);
    });
  });
  world.campaigns.forEach((campaign, index) => {
    const path = `world.campaigns.${index}`;
    defineOnce(names.campaigns, campaign.id, undefined, `${path}.id`, problems);
    requireIn(names.merchants, campaign.merchant, "merchant", `${path}.merchant`, problems);
    for (const amount of ["amountOff", "budget", "minAmount"] as const) sameCurrency(campaign[amount], campaign.currency, `${path}.${amount}`, problems);
  });
  scenario.steps.forEach((step, index) => {
    if (step.id !== undefined) defineOnce(names.steps, step.id, step.action.name, `steps.${index}.id`, problems);
  });
  return names;
}

function requireStep(names: Names, id: string | undefined, actions: ReadonlyArray<Action["name"]>, path: string, problems: Problems): void {
  const action = id === undefined ? undefined : names.steps.get(id);
  if (id !== undefined && (action === undefined || !actions.includes(action))) problems.push(`${path}: no ${actions.join(" or ")} step with id ${JSON.stringify(id)}`);
}

function checkStep(step: Step, path: string, names: Names, problems: Problems): void {
  const { action } = step;
  const at = `${path}.${action.name}`;
  const anyHub = new Set([...names.tapHubs, ...names.glassesHubs]);
  switch (action.name) {
    case "sale":
    case "remove":
    case "cancel":
      return requireIn(names.tapHubs, action.spec.hub, "tap hub", `${at}.hub`, problems);
    case "tap":
      requireIn(names.tapHubs, action.spec.hub, "tap hub", `${at}.hub`, problems);
      return requireIn(names.wallets, action.spec.wallet, "wallet", `${at}.wallet`, problems);
    case "scan":
      requireIn(names.tapHubs, action.spec.hub, "tap hub", `${at}.hub`, problems);
      if (action.spec.wallet !== undefined) requireIn(names.wallets, action.spec.wallet, "wallet", `${at}.wallet`, problems);
      return;
    case "see":
    case "say":
    case "biometric":
      return requireIn(names.glasses, action.spec.glasses, "glasses", `${at}.glasses`, problems);
    case "agentPay":
      requireIn(names.agents, action.spec.agent, "agent", `${at}.agent`, problems);
      if (names.mandates.get(action.spec.mandate) !== action.spec.agent) problems.push(`${at}.mandate: agent ${JSON.stringify(action.spec.agent)} holds no mandate ${JSON.stringify(action.spec.mandate)}`);
      return;
    case "agentResend":
    case "stepUp":
    case "review":
      return requireStep(names, action.spec.payment, ["agentPay"], `${at}.payment`, problems);
    case "fault": {
      const fault = action.spec;
      if ("hub" in fault) requireIn(fault.kind.startsWith("link") ? anyHub : names.tapHubs, fault.hub, "hub", `${at}.hub`, problems);
      if ("wallet" in fault) requireIn(names.wallets, fault.wallet, "wallet", `${at}.wallet`, problems);
      if ("agent" in fault) requireIn(names.agents, fault.agent, "agent", `${at}.agent`, problems);
      if ("glasses" in fault) requireIn(names.glasses, fault.glasses, "glasses", `${at}.glasses`, problems);
      return;
    }
    case "heal":
      return;
  }
}

function checkExpectation(check: Check, path: string, names: Names, problems: Problems): void {
  const anyHub = new Set([...names.tapHubs, ...names.glassesHubs]);
  switch (check.name) {
    case "hub":
      return requireIn(names.tapHubs, check.spec.id, "tap hub", `${path}.id`, problems);
    case "sale":
      requireStep(names, check.spec.ref, ["sale"], `${path}.ref`, problems);
      return requireIn(names.tapHubs, check.spec.hub, "tap hub", `${path}.hub`, problems);
    case "lastSale":
    case "offlineBacklog":
      return requireIn(names.tapHubs, check.spec.hub, "tap hub", `${path}.hub`, problems);
    case "agent":
      return requireStep(names, check.spec.payment, ["agentPay", "agentResend"], `${path}.payment`, problems);
    case "purchase":
      requireStep(names, check.spec.ref, ["see"], `${path}.ref`, problems);
      return requireIn(names.glasses, check.spec.glasses, "glasses", `${path}.glasses`, problems);
    case "glassesLink":
      return requireIn(names.glasses, check.spec.glasses, "glasses", `${path}.glasses`, problems);
    case "balances":
      return checkAccounts(check.spec, path, names, problems);
    case "journalEmpty":
      return requireIn(anyHub, check.spec, "hub", path, problems);
    case "losses":
      return requireIn(names.merchants, check.spec.merchant, "merchant", `${path}.merchant`, problems);
    case "payments":
      return requireIn(names.merchants, check.spec.merchant, "merchant", `${path}.merchant`, problems);
    case "mandate":
      return requireIn(names.mandates, check.spec.id, "mandate", `${path}.id`, problems);
    case "invariants":
      return;
  }
}

function checkAccounts(balances: Record<string, Money>, path: string, names: Names, problems: Problems): void {
  for (const [account, money] of Object.entries(balances)) {
    const [kind, id = ""] = [account.slice(0, account.indexOf(":")), account.slice(account.indexOf(":") + 1)];
    const at = `${path}["${account}"]`;
    if (kind === "wallet") requireIn(names.wallets, id, "wallet", at, problems);
    if (kind === "merchant") requireIn(names.merchants, id, "merchant", at, problems);
    if (kind === "campaign") requireIn(names.campaigns, id, "campaign", at, problems);
    sameCurrency(money, kind === "wallet" ? names.wallets.get(id) : kind === "merchant" ? names.merchants.get(id) : undefined, at, problems);
  }
}
