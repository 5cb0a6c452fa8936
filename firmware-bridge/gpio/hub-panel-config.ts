import { z } from "zod";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";

/** Firmata addresses at most 128 pins (7-bit pin numbers). */
export const firmataPinMax = 127;

const pin = z
  .number({ error: `must be a pin number between 0 and ${firmataPinMax}` })
  .int(`must be a whole pin number between 0 and ${firmataPinMax}`)
  .min(0, `must be a pin number between 0 and ${firmataPinMax}`)
  .max(firmataPinMax, `must be a pin number between 0 and ${firmataPinMax}`);

const milliseconds = (min: number, max: number) =>
  z
    .number({ error: `must be between ${min} and ${max} milliseconds` })
    .int(`must be a whole number of milliseconds between ${min} and ${max}`)
    .min(min, `must be between ${min} and ${max} milliseconds`)
    .max(max, `must be between ${min} and ${max} milliseconds`);

const pinsSchema = z
  .strictObject({
    green: pin.meta({ description: "LED: approved." }),
    red: pin.meta({ description: "LED: declined or error." }),
    amber: pin.meta({ description: "LED: waiting for a tap or a decision." }),
    blue: pin.meta({ description: "LED: online." }),
    buzzer: pin.meta({ description: "Active buzzer." }),
    cancelButton: pin.meta({ description: "The cancel button's input." }),
  })
  .meta({ title: "Pins", description: "The board's pin number for each part of the panel." });

const beepTimingsSchema = z
  .strictObject({
    shortMs: milliseconds(10, 2_000).default(80).meta({ description: "A short beep.", unit: "milliseconds" }),
    longMs: milliseconds(10, 5_000).default(400).meta({ description: "A long beep.", unit: "milliseconds" }),
    gapMs: milliseconds(10, 2_000).default(120).meta({ description: "Silence between two beeps.", unit: "milliseconds" }),
  })
  .prefault({});

/** The panel's keys as written in a config file, each described for its JSON Schema. */
export const hubPanelConfigFields = z.strictObject({
  pins: pinsSchema,
  /** "pullup": the button shorts the pin to ground and the board's pull-up holds it high (the usual wiring). */
  buttonWiring: z
    .enum(["pullup", "pulldown"])
    .default("pullup")
    .meta({ title: "Button wiring", description: "pullup: the button shorts the pin to ground (the usual wiring); pulldown: to 5 V." }),
  debounceMs: milliseconds(1, 1_000).default(30).meta({ title: "Debounce", description: "How long the button must hold still.", unit: "milliseconds" }),
  /** From start() to the board's capabilities being known; an Uno resets on open and boots in about 2 s. */
  readyTimeoutMs: milliseconds(50, 60_000)
    .default(10_000)
    .meta({ title: "Ready timeout", description: "From opening the port to the board's capabilities (an Uno boots in about 2 s).", unit: "milliseconds" }),
  /**
   * A board that resets when the port opens announces its version by itself; one that does not (a Pi UART
   * wired to a board without auto-reset) is asked after this long. Default: 3 s, or half of readyTimeoutMs
   * when that is shorter.
   */
  versionQueryDelayMs: milliseconds(10, 60_000)
    .optional()
    .meta({ title: "Version query delay", description: "When to ask a board that does not reset on open for its version. Default: 3 s.", unit: "milliseconds" }),
  beepTimings: beepTimingsSchema.meta({ title: "Beeps", description: "Lengths of the buzzer's short and long beeps and the gaps between them." }),
});

const hubPanelConfigSchema = hubPanelConfigFields
  .superRefine((config, context) => {
    const seen = new Map<number, string>();
    for (const [role, number] of Object.entries(config.pins)) {
      const other = seen.get(number);
      if (other !== undefined) {
        context.addIssue({ code: "custom", path: ["pins", role], message: `pin ${number} is already used by ${other}` });
      }
      seen.set(number, role);
    }
    if (config.versionQueryDelayMs !== undefined && config.versionQueryDelayMs >= config.readyTimeoutMs) {
      context.addIssue({
        code: "custom",
        path: ["versionQueryDelayMs"],
        message: `must be shorter than readyTimeoutMs (${config.readyTimeoutMs} milliseconds)`,
      });
    }
  })
  .transform((config) => ({
    ...config,
    versionQueryDelayMs: config.versionQueryDelayMs ?? Math.min(3_000, Math.floor(config.readyTimeoutMs / 2)),
  }));

export type HubPanelConfigInput = z.input<typeof hubPanelConfigSchema>;
export type HubPanelConfig = z.output<typeof hubPanelConfigSchema>;
export type HubPanelPins = HubPanelConfig["pins"];
export type PanelRole = keyof HubPanelPins;

/** Validates and fills defaults; failures are ConfigInvalid with readable `path: message` details. */
export function parseHubPanelConfig(input: unknown): HubPanelConfig {
  const result = hubPanelConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => `${issue.path.join(".") || "(config)"}: ${issue.message}`);
  throw new TapwireError(`invalid hub panel config: ${details.join("; ")}`, ErrorCode.ConfigInvalid, { details });
}
