import { parseCampaignDefinition } from "../broker/campaigns/campaign-definition.ts";
import type { CampaignRule } from "../broker/campaigns/campaign-rules.ts";
import type { CampaignRecord } from "../broker/campaigns/campaign-store.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { formatMoney } from "../protocol/money.ts";
import { systemClock } from "../core/sources.ts";
import { dataDirFlag, withAdmin } from "./admin.ts";
import { parseFlags, requireFlag } from "./args.ts";

export const campaignUsage = `tapwire campaign add --campaign-id C --currency CUR --budget-minor N --ends-at TIME
    (--off-minor N | --percent-bps N --cap-minor N) [--merchant-id M] [--starts-at TIME] [--min-amount-minor N]
    [--per-customer-max N] [--per-customer-per-day-max N] [--per-day-max N] [--on-exhausted full_price|stop]
    [--operator NAME] [--data-dir .tapwire]
  A promotion with a hard budget, funded into its own ledger account. Online reader, tag and glasses payments at
  the merchant (every merchant in CUR without --merchant-id) within [starts-at, ends-at) get the largest discount
  of the campaigns they qualify for: N minor units off, or percent-bps basis points floored to the minor unit and
  capped, always leaving the customer at least one minor unit to pay. Per-customer limit defaults to 1; limits per
  day count UTC days. When a discount no longer fits the budget left the payment goes at full price, and with
  --on-exhausted stop the campaign also stops. TIME is ISO 8601 or milliseconds since the epoch; starts now by default.
  example: tapwire campaign add --campaign-id spring --currency EUR --budget-minor 50000 --ends-at 2030-06-01 --percent-bps 1000 --cap-minor 300
tapwire campaign list [--merchant-id M] [--data-dir .tapwire]
  One campaign a line: id, merchant, rule, budget, spent, left, discounts given, window, status.
  example: tapwire campaign list --merchant-id m1
tapwire campaign stop --campaign-id C [--operator NAME] [--data-dir .tapwire]
  No payment qualifies from the next batch on; what is left of the budget stays in the campaign's account.
  example: tapwire campaign stop --campaign-id spring --operator alice`;

const addFlags = {
  ...dataDirFlag,
  "campaign-id": { type: "string" },
  "merchant-id": { type: "string" },
  currency: { type: "string" },
  "budget-minor": { type: "string" },
  "starts-at": { type: "string" },
  "ends-at": { type: "string" },
  "off-minor": { type: "string" },
  "percent-bps": { type: "string" },
  "cap-minor": { type: "string" },
  "min-amount-minor": { type: "string" },
  "per-customer-max": { type: "string" },
  "per-customer-per-day-max": { type: "string" },
  "per-day-max": { type: "string" },
  "on-exhausted": { type: "string" },
  operator: { type: "string", default: process.env["USER"] ?? "operator" },
} as const;

/** An integer flag as a number; anything else is passed on as given, for the definition check to name. */
function numeric(value: string | undefined): number | string | undefined {
  return value !== undefined && /^-?\d{1,16}$/.test(value) ? Number(value) : value;
}

/** Milliseconds since the epoch, or an ISO 8601 time; anything else is passed on for the definition check to name. */
function timeOf(value: string | undefined): number | string | undefined {
  if (value === undefined || /^\d{1,16}$/.test(value)) return numeric(value);
  const parsedMs = Date.parse(value);
  return Number.isNaN(parsedMs) ? value : parsedMs;
}

function ruleFrom(values: { "off-minor"?: string | undefined; "percent-bps"?: string | undefined; "cap-minor"?: string | undefined }): unknown {
  const off = values["off-minor"];
  const percent = values["percent-bps"];
  if ((off === undefined) === (percent === undefined)) throw new TapwireError("give either --off-minor or --percent-bps with --cap-minor", ErrorCode.ConfigInvalid);
  if (off !== undefined) return { kind: "amount_off", offMinor: numeric(off) };
  return { kind: "percent", percentBps: numeric(percent), capMinor: numeric(values["cap-minor"]) };
}

/** Leaves out what was not given, so the definition's defaults apply. */
function given<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<T>;
}

export async function campaignAddCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, addFlags);
  const definition = parseCampaignDefinition(
    given({
      campaignId: requireFlag(values["campaign-id"], "campaign-id"),
      merchantId: values["merchant-id"],
      currency: requireFlag(values.currency, "currency"),
      rule: ruleFrom(values),
      budgetMinor: numeric(requireFlag(values["budget-minor"], "budget-minor")),
      startsAtMs: timeOf(values["starts-at"]) ?? systemClock.nowMs(),
      endsAtMs: timeOf(requireFlag(values["ends-at"], "ends-at")),
      minAmountMinor: numeric(values["min-amount-minor"]),
      perCustomerMax: numeric(values["per-customer-max"]),
      perCustomerPerDayMax: numeric(values["per-customer-per-day-max"]),
      perDayMax: numeric(values["per-day-max"]),
      onExhausted: values["on-exhausted"],
    }),
  );
  const added = await withAdmin(values["data-dir"], (service) => service.campaigns.add(definition, values.operator));
  process.stdout.write(`${campaignLine(added)}\n`);
  return 0;
}

export async function campaignListCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "merchant-id": { type: "string" } });
  const dataDir = values["data-dir"];
  const campaigns = await withAdmin(dataDir, (service) => service.campaigns.list({ merchantId: values["merchant-id"] }));
  for (const campaign of campaigns) process.stdout.write(`${campaignLine(campaign)}\n`);
  if (campaigns.length === 0) process.stdout.write("no campaigns\n");
  return 0;
}

export async function campaignStopCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "campaign-id": { type: "string" }, operator: addFlags.operator });
  const campaignId = requireFlag(values["campaign-id"], "campaign-id");
  const stopped = await withAdmin(values["data-dir"], (service) => service.campaigns.stop(campaignId, values.operator));
  process.stdout.write(`${campaignLine(stopped)}\n`);
  return 0;
}

function ruleText(rule: CampaignRule, currency: string): string {
  if (rule.kind === "amount_off") return `${formatMoney({ amountMinor: rule.offMinor, currency })} off`;
  const percent = `${Math.floor(rule.percentBps / 100)}.${String(rule.percentBps % 100).padStart(2, "0")} %`;
  return `${percent} off (floored), at most ${formatMoney({ amountMinor: rule.capMinor, currency })}`;
}

function statusText(c: CampaignRecord): string {
  if (c.status === "active") return "active";
  return `stopped ${new Date(c.stoppedAtMs ?? 0).toISOString()} by ${c.stoppedBy ?? "?"} (${c.stopReason ?? "?"})`;
}

function campaignLine(c: CampaignRecord): string {
  const money = (amountMinor: number) => formatMoney({ amountMinor, currency: c.currency });
  return [
    c.campaignId,
    c.merchantId === undefined ? "every merchant" : `merchant ${c.merchantId}`,
    ruleText(c.rule, c.currency),
    `budget ${money(c.budgetMinor)}`,
    `spent ${money(c.spentMinor)}`,
    `left ${money(c.budgetLeftMinor)}`,
    `${c.discountsGiven} discounts`,
    `${new Date(c.startsAtMs).toISOString()} – ${new Date(c.endsAtMs).toISOString()}`,
    `on exhausted ${c.onExhausted}`,
    statusText(c),
  ].join("\t");
}
