import { agentSchema } from "../agents/agent-schema.ts";
import { campaignSchema } from "../campaigns/campaign-schema.ts";
import { clearingSchema } from "../clearing/clearing-schema.ts";
import { evidenceSchema } from "../evidence/evidence-schema.ts";
import { ledgerSchema } from "../ledger/ledger-schema.ts";
import type { SchemaComponent } from "../ledger/sqlite-db.ts";
import { registrySchema } from "../registry/registry-schema.ts";
import { reviewSchema } from "../review/review-schema.ts";
import { paymentCodeSchema } from "./code-payer-verifier.ts";
import { settlementSchema } from "./settlement-schema.ts";
import { operatorSchema } from "../operators/operator-schema.ts";
import { privacySchema } from "../privacy/privacy-schema.ts";
import { fxSchema } from "../fx/fx-schema.ts";
import { providerSchema } from "../providers/provider-schema.ts";

/**
 * Every table the settlement database holds, in migration order (the ledger first: others reference it), then
 * those of plugged-in modules: one list for the service and `tapwire db migrate`.
 */
export function serviceSchema(plugged: readonly SchemaComponent[]): SchemaComponent[] {
  return [ledgerSchema, registrySchema, settlementSchema, agentSchema, reviewSchema, evidenceSchema, campaignSchema, paymentCodeSchema, operatorSchema, clearingSchema, privacySchema, fxSchema, providerSchema, ...plugged];
}
