import { z } from "zod";
import { saleOutcomes } from "../../device/journal/journal-records.ts";
import { outcomeKinds } from "../../device/glasses/outcome.ts";
import { indicatorStates } from "../../device/ports.ts";
import { tapStateNames } from "../../device/tap/tap-view.ts";
import { idSchema } from "../../protocol/ids.ts";
import { decisionStatuses } from "../../protocol/messages.ts";
import { balanceSchema, codeSchema, countSchema, durationSchema } from "./units.ts";

/**
 * What must be true, and when: `at` a virtual time exactly (after everything due then has run), `within` a time
 * (at some moment between `after` and then), or with neither at some moment after `after` and before the
 * scenario's timeout. `after` defaults to the time of the last step due before the window closes. Each expectation
 * checks one thing, under its name as its one key beside the timing.
 */

/** The tap flow's end states: how a sale ended on the hub's panel. */
export const saleStatuses = ["approved", "approvedOffline", "declined", "timedOut", "cancelled", "failed"] as const;

const linkStates = ["boot", "connecting", "ready", "reconnecting", "failed"] as const;
const bleStates = ["stopped", "waitingForAdapter", "unpaired", "scanning", "connecting", "discovering", "pairing", "authenticating", "ready", "backoff", "failed"] as const;
const accountPattern = /^(wallet|merchant|campaign):[A-Za-z0-9._:-]{1,64}$/;

const atLeastOne = (keys: readonly string[]) => (value: Record<string, unknown>) => keys.some((key) => value[key] !== undefined);

export const checkSchemas = {
  /** A tap hub now: its tap state, link, LED, the beeps since its last sale step, reader, clock, a refusal's code. */
  hub: z
    .strictObject({
      id: idSchema,
      state: z.enum(tapStateNames).optional(),
      link: z.enum(linkStates).optional(),
      led: z.enum(indicatorStates).optional(),
      beeps: z.array(z.enum(["approved", "declined", "error"])).max(16).optional(),
      online: z.boolean().optional(),
      readerPresent: z.boolean().optional(),
      clockWrong: z.boolean().optional(),
      refusal: codeSchema.optional(),
    })
    .refine(atLeastOne(["state", "link", "led", "beeps", "online", "readerPresent", "clockWrong", "refusal"]), "names something to check besides the hub"),
  /** A sale step (by its id, or a hub's last): how the panel ended it (status, code) and what its journal says now (outcome). */
  sale: z
    .strictObject({ ref: idSchema.optional(), hub: idSchema.optional(), status: z.enum(saleStatuses).optional(), code: codeSchema.optional(), outcome: z.enum(saleOutcomes).optional() })
    .refine((value) => (value.ref === undefined) !== (value.hub === undefined), "names exactly one of ref or hub")
    .refine(atLeastOne(["status", "code", "outcome"]), "names something to check: status, code or outcome"),
  /** The latest sale the hub's journal knows (also after a reboot), as the panel shows it. */
  lastSale: z.strictObject({ hub: idSchema, outcome: z.enum(saleOutcomes), code: codeSchema.optional() }),
  /** An agent payment step's latest decision (its answer, or the outcome pushed later). */
  agent: z.strictObject({ payment: idSchema, status: z.enum(decisionStatuses), code: codeSchema.optional() }),
  /** A glasses purchase: the outcome of the one that began with a `see` step (ref), or the glasses' latest. */
  purchase: z
    .strictObject({ ref: idSchema.optional(), glasses: idSchema.optional(), outcome: z.enum(outcomeKinds), code: codeSchema.optional() })
    .refine((value) => (value.ref === undefined) !== (value.glasses === undefined), "names exactly one of ref or glasses"),
  /** The glasses' BLE link as their hub sees it. */
  glassesLink: z.strictObject({ glasses: idSchema, state: z.enum(bleStates) }),
  /** Ledger balances by account (`wallet:w1`, `merchant:m1`, `campaign:c1`). */
  balances: z.record(z.string().regex(accountPattern, "must be wallet:<id>, merchant:<id> or campaign:<id>"), balanceSchema),
  /** A hub's journal (tap or glasses) has no open request and no pending sale. */
  journalEmpty: idSchema,
  offlineBacklog: z.strictObject({ hub: idSchema, count: countSchema, total: balanceSchema.optional() }),
  /** Forwarded offline captures the service refused: the merchant's losses. */
  losses: z.strictObject({ merchant: idSchema.optional(), count: countSchema }),
  /** The merchant's payments at the service, by status. */
  payments: z
    .strictObject({ merchant: idSchema, captured: countSchema.optional(), reversed: countSchema.optional() })
    .refine(atLeastOne(["captured", "reversed"]), "names captured or reversed"),
  mandate: z.strictObject({ id: idSchema, spent: balanceSchema.optional(), status: z.enum(["active", "revoked"]).optional() }),
  /** The world has settled and every money invariant of `tapwire sim explore` holds. */
  invariants: z.literal(true),
} as const;
export type CheckName = keyof typeof checkSchemas;
export const checkNames = Object.keys(checkSchemas) as CheckName[];
export type Check = { [K in CheckName]: { name: K; spec: z.output<(typeof checkSchemas)[K]> } }[CheckName];

export interface Expectation {
  /** Its place in the file, for messages. */
  index: number;
  /** From when it may hold (virtual ms from the start): `at`, `after`, or the last step due before the window closes. */
  fromMs: number;
  /** By when it must hold; undefined: before the timeout. */
  toMs: number | undefined;
  /** Checked at exactly one instant (`at`). */
  exact: boolean;
  check: Check;
}

export const expectHeadSchema = z
  .object({ at: durationSchema.optional(), within: durationSchema.optional(), after: durationSchema.optional() })
  .refine((head) => head.at === undefined || (head.within === undefined && head.after === undefined), "`at` stands alone: use `within` with `after` for a window")
  .refine((head) => head.after === undefined || head.within === undefined || head.after <= head.within, "`after` must not be later than `within`");
