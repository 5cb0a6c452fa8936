import { z } from "zod";
import { idSchema } from "../../protocol/ids.ts";
import { amountMinorMax, isCurrency } from "../../protocol/money.ts";
import { assertNoProblems } from "../../core/ranges.ts";
import { basisPointsPerWhole, dayMs, type CampaignRule } from "./campaign-rules.ts";

/** What an operator defines; see campaign-rules.ts for the arithmetic and redemptions.ts for how it is spent. */
export interface CampaignDefinition {
  campaignId: string;
  /** Omitted: an operator's campaign for every merchant in the currency. */
  merchantId?: string | undefined;
  currency: string;
  rule: CampaignRule;
  /** The most the campaign may ever have out in discounts at once, funded into `campaign:<id>` when defined. */
  budgetMinor: number;
  /** The window, by the settlement service's clock: startsAtMs ≤ now < endsAtMs. */
  startsAtMs: number;
  endsAtMs: number;
  /** Smallest payment that qualifies. Default 1. */
  minAmountMinor: number;
  /** Discounts one wallet may hold from this campaign (a reversed or fully refunded one gives its place back). Default 1. */
  perCustomerMax: number;
  /** Discounts one wallet may get per UTC day; omitted: no daily limit per customer. */
  perCustomerPerDayMax?: number | undefined;
  /** Discounts the campaign gives per UTC day, all customers together; omitted: no daily limit. */
  perDayMax?: number | undefined;
  /**
   * When a qualifying payment's discount no longer fits the budget left: `full_price` approves it at full
   * price (the decision says the budget is exhausted) and keeps the campaign for smaller discounts that still
   * fit; `stop` also stops the campaign, so later payments are plain full-price ones.
   */
  onExhausted: "full_price" | "stop";
}

export const campaignWindowMsMax = 366 * dayMs;
export const campaignCountMax = 1_000_000_000;
const timeMsMax = 8_640_000_000_000_000;

const minor = z.number().int().min(1).max(amountMinorMax);
const count = z.number().int().min(1).max(campaignCountMax);
const timeMs = z.number().int().min(0).max(timeMsMax);

const ruleSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("amount_off"), offMinor: minor }),
  z.strictObject({ kind: z.literal("percent"), percentBps: z.number().int().min(1).max(basisPointsPerWhole), capMinor: minor }),
]);

export const campaignDefinitionSchema = z.strictObject({
  campaignId: idSchema,
  merchantId: idSchema.optional(),
  currency: z.string().refine(isCurrency, "unknown ISO 4217 currency"),
  rule: ruleSchema,
  budgetMinor: minor,
  startsAtMs: timeMs,
  endsAtMs: timeMs,
  minAmountMinor: minor.default(1),
  perCustomerMax: count.default(1),
  perCustomerPerDayMax: count.optional(),
  perDayMax: count.optional(),
  onExhausted: z.enum(["full_price", "stop"]).default("full_price"),
});

function windowProblems(d: CampaignDefinition): string[] {
  if (d.endsAtMs <= d.startsAtMs) return [`endsAtMs: must be after startsAtMs ${d.startsAtMs}, got ${d.endsAtMs}`];
  if (d.endsAtMs - d.startsAtMs > campaignWindowMsMax) return [`endsAtMs: the window may last at most ${campaignWindowMsMax} milliseconds, got ${d.endsAtMs - d.startsAtMs}`];
  return [];
}

/**
 * The definition with its defaults filled in, or ConfigInvalid listing every problem as `path: message`
 * (also in `context.details`). Unknown keys are problems too: a misspelt limit must not silently be no limit.
 */
export function parseCampaignDefinition(input: unknown): CampaignDefinition {
  const result = campaignDefinitionSchema.safeParse(input);
  if (!result.success) {
    assertNoProblems(result.error.issues.map((issue) => `${issue.path.join(".") || "(definition)"}: ${issue.message}`), "campaign definition");
  }
  const definition = result.data as CampaignDefinition;
  assertNoProblems(windowProblems(definition), "campaign definition");
  return definition;
}
