import { z } from "zod";
import { rangeSchema, type Range } from "../core/ranges.ts";
import { defaultLinkConfig, linkConfigRanges } from "../device/link/link-machine.ts";
import { defaultResendConfig, resendConfigRanges } from "../device/link/outbox-config.ts";
import { defaultTapTiming, tapTimingRanges } from "../device/tap/tap-config.ts";
import { hubPanelConfigFields } from "../firmware-bridge/gpio/hub-panel-config.ts";
import { glassesHubFileSchema } from "./glasses-hub-config.ts";
import { hubFileSchema, panelSchema } from "./hub-config.ts";

/** Where `hub init` puts the schema beside the config it writes, and what `$schema` then says. */
export const schemaFileNames = { hub: "hub.schema.json", glasses: "glasses.schema.json" } as const;

/** What each timing is for; its range, unit and default are its owner's (tap flow, link, outbox). */
const timingDescriptions: Record<string, [title: string, description: string]> = {
  tapTimeoutMs: ["Tap timeout", "How long the hub waits for a phone or card (reader) or for a phone to read its tag (tag)."],
  decisionTimeoutMs: ["Decision timeout", "How long the customer waits for the service's decision; then the hub reverses the payment."],
  resultDisplayMs: ["Result display", "How long approved, declined or cancelled stays on the LEDs."],
  requestTtlMs: ["Request lifetime", "A payment request's exp minus iat; at most the contract's request lifetime."],
  reversalTtlMs: ["Reversal lifetime", "One reversal envelope's lifetime; an expired one is replaced, so this bounds no retry."],
  connectTimeoutMs: ["Connect timeout", "One connect attempt to the broker before it counts as failed."],
  reconnectBackoffBaseMs: ["Reconnect backoff", "The first wait before reconnecting; doubles per attempt."],
  reconnectBackoffMaxMs: ["Longest reconnect backoff", "The longest wait between two connect attempts."],
  reconnectAttemptsMax: ["Reconnect attempts", "Failed connects in a row before the hub rests for failedCooldownMs."],
  failedCooldownMs: ["Rest after failing", "How long the hub rests after reconnectAttemptsMax failed connects."],
  attemptTimeoutMs: ["Resend timeout", "How long one send waits for its decision before the same bytes go again (then doubling)."],
  resendBackoffMaxMs: ["Longest resend wait", "The longest wait between two sends of one request."],
  heldResendMs: ["Held payment re-ask", "How often a payment held for a person or an operator is asked about again."],
};

function timingSchema(key: string, range: Range, defaultValue: number) {
  const [title, description] = timingDescriptions[key] ?? [key, key];
  return rangeSchema(range).default(defaultValue).meta({ title, description, unit: range[2] });
}

const timingsDocumented = z
  .strictObject(
    Object.fromEntries([
      ...Object.entries(tapTimingRanges).map(([key, range]) => [key, timingSchema(key, range, defaultTapTiming[key as keyof typeof defaultTapTiming])]),
      ...Object.entries(linkConfigRanges).map(([key, range]) => [key, timingSchema(key, range, defaultLinkConfig[key as keyof typeof defaultLinkConfig])]),
      ...Object.entries(resendConfigRanges).map(([key, range]) => [key, timingSchema(key, range, defaultResendConfig[key as keyof typeof defaultResendConfig])]),
    ]),
  )
  .meta({ title: "Timings", description: "Waits of the tap flow, the broker link and the outbox's resends; each has its default." });

/**
 * hub.json's schema for editors: the validating schema with the parts other modules check themselves (the
 * panel's pins and timings, every timing's range) spelled out from their owners' own tables.
 */
function hubDocumented() {
  const panel = z.strictObject({ ...panelSchema.shape, ...hubPanelConfigFields.shape }).meta(panelSchema.meta() ?? {});
  return hubFileSchema.extend({ panel, timings: timingsDocumented.optional() });
}

function document(schema: z.ZodType, title: string, description: string): Record<string, unknown> {
  const generated = z.toJSONSchema(schema, { io: "input", target: "draft-2020-12" });
  return { $schema: generated["$schema"], title, description, ...generated };
}

export function hubConfigJsonSchema(): Record<string, unknown> {
  return document(
    hubDocumented(),
    "tapwire tap hub (hub.json)",
    "`tapwire hub --config hub.json`: the PN532 reader, the Firmata panel, the settlement broker and the journal. Relative paths are read from this file's folder.",
  );
}

export function glassesConfigJsonSchema(): Record<string, unknown> {
  return document(
    glassesHubFileSchema,
    "tapwire glasses hub (glasses.json)",
    "`tapwire glasses-hub --config glasses.json`: the owner, the Bluetooth link to the glasses, the settlement broker and the journal. Named as in hub.json.",
  );
}

/** The text of a schema file, as shipped in schema/ and written by `hub init`. */
export function schemaText(schema: Record<string, unknown>): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
