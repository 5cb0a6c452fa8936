import { z } from "zod";
import { crashSteps } from "../../device/crash.ts";
import { langs } from "../../device/intent/intent.ts";
import { idSchema } from "../../protocol/ids.ts";
import { biometricMethods } from "../../protocol/glasses.ts";
import { countSchema, durationSchema, moneySchema, positiveDurationSchema, signedDurationSchema } from "./units.ts";

/**
 * What happens in a scenario, one action per step at a virtual time. People act (the cashier types an amount,
 * a phone is tapped, the wearer speaks, an agent pays, a person answers a step-up, an operator reviews) and
 * faults strike (the reader, the links, the broker, the service, a hub's power or clock, the glasses' radio).
 */

const hub = z.strictObject({ hub: idSchema });

/** Whose connection a network fault hits: a hub's (tap or glasses), a wallet's or an agent's. */
const target = { hub: idSchema.optional(), wallet: idSchema.optional(), agent: idSchema.optional() };
const oneTarget = <T extends { hub?: string | undefined; wallet?: string | undefined; agent?: string | undefined }>(value: T) =>
  [value.hub, value.wallet, value.agent].filter((id) => id !== undefined).length === 1;
const direction = z.enum(["up", "down"]).default("down");

export const faultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("readerGarbage"), hub: idSchema, frames: countSchema.min(1).default(3) }),
  z.strictObject({ kind: z.literal("readerSplitFrames"), hub: idSchema }),
  z.strictObject({ kind: z.literal("readerBadChecksum"), hub: idSchema, count: countSchema.min(1).default(1) }),
  z.strictObject({ kind: z.literal("readerNack"), hub: idSchema, count: countSchema.min(1).default(1) }),
  z.strictObject({ kind: z.literal("readerSilent"), hub: idSchema, count: countSchema.min(1).default(1) }),
  z.strictObject({ kind: z.literal("readerHang"), hub: idSchema }),
  z.strictObject({ kind: z.literal("readerRecover"), hub: idSchema }),
  z.strictObject({ kind: z.literal("readerTargetRemoved"), hub: idSchema, atApdu: countSchema.min(1).default(1) }),
  z.strictObject({ kind: z.literal("readerApplicationError"), hub: idSchema, count: countSchema.min(1).default(1) }),
  z.strictObject({ kind: z.literal("readerGone"), hub: idSchema }),
  z.strictObject({ kind: z.literal("readerBack"), hub: idSchema }),
  z.strictObject({ kind: z.literal("linkCut"), ...target }).refine(oneTarget, "names exactly one of hub, wallet or agent"),
  z.strictObject({ kind: z.literal("linkRefuse"), for: positiveDurationSchema }),
  z.strictObject({ kind: z.literal("linkStall"), ...target, direction, for: positiveDurationSchema }).refine(oneTarget, "names exactly one of hub, wallet or agent"),
  z.strictObject({ kind: z.literal("linkDrop"), ...target, direction, count: countSchema.min(1).default(1) }).refine(oneTarget, "names exactly one of hub, wallet or agent"),
  z.strictObject({ kind: z.literal("linkDuplicate"), ...target, direction, count: countSchema.min(1).default(1) }).refine(oneTarget, "names exactly one of hub, wallet or agent"),
  z.strictObject({ kind: z.literal("brokerRestart"), down: positiveDurationSchema.default(5_000) }),
  z.strictObject({ kind: z.literal("settlementKill") }),
  z.strictObject({ kind: z.literal("settlementRestart") }),
  /** The power goes now, or the next time a sale reaches `atStep`; it comes back `offFor` later, or at a `reboot` step. */
  z.strictObject({ kind: z.literal("powerCut"), hub: idSchema, atStep: z.enum(crashSteps).optional(), offFor: positiveDurationSchema.optional() }),
  z.strictObject({ kind: z.literal("reboot"), hub: idSchema }),
  z.strictObject({ kind: z.literal("clockSkew"), hub: idSchema, skew: signedDurationSchema }),
  z.strictObject({ kind: z.literal("bleDrop"), glasses: idSchema }),
  z.strictObject({ kind: z.literal("bleOutOfRange"), glasses: idSchema, for: positiveDurationSchema }),
]);
export type FaultSpec = z.output<typeof faultSchema>;

/** Each action's fields, under the action's name as the step's one key beside `at` and `id`. */
export const actionSchemas = {
  sale: z.strictObject({ hub: idSchema, amount: moneySchema, mode: z.enum(["reader", "tag"]).default("reader") }),
  /** hce: the wallet's phone in card emulation; tag: its phone reading the hub's tag; clone: a copy replaying its last cryptogram. */
  tap: z.strictObject({ hub: idSchema, wallet: idSchema, phone: z.enum(["hce", "tag", "clone"]).optional() }),
  /**
   * Something held to the hub's QR scanner: the wallet's payment code (fresh; again: the one it showed last, a
   * replay; forged: signed by another key), or any other `text` (a product's barcode).
   */
  scan: z
    .strictObject({ hub: idSchema, wallet: idSchema.optional(), code: z.enum(["fresh", "again", "forged"]).default("fresh"), text: z.string().min(1).max(600).optional() })
    .refine((scan) => (scan.wallet === undefined) !== (scan.text === undefined), "needs a wallet (its payment code) or a text, not both"),
  remove: hub,
  cancel: hub,
  see: z.strictObject({ glasses: idSchema, product: idSchema, name: z.string().min(1).max(80), amount: moneySchema }),
  say: z.strictObject({ glasses: idSchema, text: z.string().min(1).max(200), lang: z.enum(langs).default("en"), confidence: z.number().min(0).max(1).default(0.95) }),
  biometric: z.strictObject({ glasses: idSchema, verified: z.boolean().default(true), liveness: z.boolean().default(true), method: z.enum(biometricMethods).default("voiceprint") }),
  agentPay: z.strictObject({ agent: idSchema, mandate: idSchema, amount: moneySchema, summary: z.string().min(1).max(80).optional(), ambiguous: z.boolean().default(false) }),
  /** The same signed agent payment again, byte for byte (a replay). */
  agentResend: z.strictObject({ payment: idSchema }),
  /** The person answers the step-up an agent payment is held for, on their wallet. */
  stepUp: z.strictObject({ payment: idSchema, answer: z.enum(["approve", "deny"]) }),
  /** An operator decides the review case an agent payment is held for. */
  review: z.strictObject({ payment: idSchema, action: z.enum(["approve", "decline"]) }),
  fault: faultSchema,
  /** Every fault over: the network flows, readers answer, clocks agree, stopped hubs and the service start again. */
  heal: z.strictObject({}),
} as const;
export type ActionName = keyof typeof actionSchemas;
export const actionNames = Object.keys(actionSchemas) as ActionName[];
export type Action = { [K in ActionName]: { name: K; spec: z.output<(typeof actionSchemas)[K]> } }[ActionName];

export interface Step {
  /** Virtual milliseconds from the start of the world. */
  atMs: number;
  /** A name expectations and later steps refer to (a sale, a payment, a sighting). */
  id: string | undefined;
  action: Action;
}

export const stepHeadSchema = z.object({ at: durationSchema, id: idSchema.optional() });
