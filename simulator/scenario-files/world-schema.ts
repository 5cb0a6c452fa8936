import { z } from "zod";
import { langs } from "../../device/intent/intent.ts";
import { idSchema } from "../../protocol/ids.ts";
import { balanceSchema, countSchema, moneySchema, positiveDurationSchema, signedDurationSchema } from "./units.ts";

/** Floor limits for offline sales, on a hub's config or a merchant's record. */
const offlineLimitsSchema = z.strictObject({
  saleMax: moneySchema,
  totalMax: moneySchema,
  countMax: countSchema.min(1),
  ageMax: positiveDurationSchema,
});
export type OfflineLimitsSpec = z.output<typeof offlineLimitsSchema>;

const merchantSchema = z.strictObject({
  id: idSchema,
  currency: z.string(),
  /** The merchant's record: forwarded offline captures above these are the merchant's loss. */
  offlineLimits: offlineLimitsSchema.optional(),
});

const hubSchema = z.strictObject({
  id: idSchema,
  merchant: idSchema,
  /** Store and forward while the link is down, within these floor limits (in the merchant's currency). */
  offline: offlineLimitsSchema.optional(),
  /** How far the hub's clock is off from the start. */
  clockSkew: signedDurationSchema.optional(),
});

const walletSchema = z.strictObject({
  id: idSchema,
  funds: balanceSchema,
  perPaymentMax: moneySchema,
});

const glassesSchema = z.strictObject({
  id: idSchema,
  /** The glasses hub they pair with (one pair of glasses per hub). */
  hub: idSchema,
  merchant: idSchema,
  wallet: idSchema,
  /** The person the glasses recognise: the owner of the wallet. */
  owner: idSchema.default("owner"),
  lang: z.enum(langs).default("en"),
});

const mandateSchema = z.strictObject({
  id: idSchema,
  /** The wallet whose owner signs it (at the start of the world). */
  wallet: idSchema,
  merchant: idSchema,
  budget: moneySchema,
  perPaymentMax: moneySchema,
  stepUpAbove: moneySchema.optional(),
});

const agentSchema = z.strictObject({
  id: idSchema,
  mandates: z.array(mandateSchema).max(16).default([]),
});

const campaignSchema = z
  .strictObject({
    id: idSchema,
    /** Omitted: every merchant in the currency. */
    merchant: idSchema.optional(),
    currency: z.string(),
    amountOff: moneySchema.optional(),
    percent: z.strictObject({ bps: z.number().int().min(1).max(10_000), cap: moneySchema }).optional(),
    budget: moneySchema,
    minAmount: moneySchema.optional(),
    perCustomerMax: countSchema.min(1).optional(),
    onExhausted: z.enum(["full_price", "stop"]).optional(),
  })
  .refine((campaign) => (campaign.amountOff === undefined) !== (campaign.percent === undefined), "a campaign has exactly one of amountOff or percent");

const listMax = 64;

export const worldSchema = z.strictObject({
  merchants: z.array(merchantSchema).min(1).max(listMax),
  hubs: z.array(hubSchema).max(listMax).default([]),
  wallets: z.array(walletSchema).max(listMax).default([]),
  glasses: z.array(glassesSchema).max(listMax).default([]),
  agents: z.array(agentSchema).max(listMax).default([]),
  campaigns: z.array(campaignSchema).max(listMax).default([]),
});
export type WorldSpec = z.output<typeof worldSchema>;
