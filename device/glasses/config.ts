import { contract } from "../../protocol/contract.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { assertNoProblems, rangeProblems, type Ranges } from "../../core/ranges.ts";
import { isLang } from "../intent/intent.ts";
import type { Pairing } from "./ports.ts";

/** Every wait in the purchase conversation, in milliseconds; the machine's named delays read these. */
export interface GlassesHubTiming {
  /** The whole offer conversation, from showing the offer to an accepted intent. */
  offerTimeoutMs: number;
  /** Silence allowed after each prompt. */
  intentTimeoutMs: number;
  /** From asking to confirm identity to a verified assertion. */
  biometricTimeoutMs: number;
  /** For each request sent to the settlement service (payment, step-up approval, reversal). */
  decisionTimeoutMs: number;
  /** How long the hub waits for a human reviewer's decision. */
  reviewTimeoutMs: number;
  /** How long the result stays on the glasses before the hub is ready for the next product. */
  resultDisplayMs: number;
}

export interface GlassesHubConfig {
  hubId: string;
  pairing: Pairing;
  /** Largest quantity one spoken purchase may buy. */
  quantityMax: number;
  /** Unclear answers the hub asks again for before giving up. */
  unclearRetriesMax: number;
  /** Step-up confirmations the hub answers for one payment. */
  stepUpsMax: number;
  /** Lifetime of each signed request (its `exp` minus `iat`). */
  requestTtlMs: number;
  timing: GlassesHubTiming;
}

export type GlassesHubOptions = Pick<GlassesHubConfig, "hubId" | "pairing"> &
  Partial<Omit<GlassesHubConfig, "hubId" | "pairing" | "timing">> & { timing?: Partial<GlassesHubTiming> };

export const defaultGlassesHubTiming: GlassesHubTiming = {
  offerTimeoutMs: 120_000,
  intentTimeoutMs: 15_000,
  biometricTimeoutMs: 20_000,
  decisionTimeoutMs: 10_000,
  reviewTimeoutMs: 120_000,
  resultDisplayMs: 4_000,
};

const timingMsMax = 3_600_000;

const countRanges: Ranges<GlassesHubConfig> = {
  quantityMax: [1, 1000, "units"],
  unclearRetriesMax: [0, 5, "retries"],
  stepUpsMax: [0, 3, "step-ups"],
  requestTtlMs: [1000, contract.requestLifetimeMsMax, "milliseconds"],
};

function checkId(name: string, value: string): void {
  if (!isId(value)) throw new TapwireError(`${name} must be an id (1-64 of A-Z a-z 0-9 . _ : -)`, ErrorCode.ConfigInvalid);
}

/** Fills defaults and validates every option with its unit and range (fails at start-up, not mid-purchase). */
export function glassesHubConfig(options: GlassesHubOptions): GlassesHubConfig {
  const config: GlassesHubConfig = {
    hubId: options.hubId,
    pairing: options.pairing,
    quantityMax: options.quantityMax ?? 10,
    unclearRetriesMax: options.unclearRetriesMax ?? 1,
    stepUpsMax: options.stepUpsMax ?? 1,
    requestTtlMs: options.requestTtlMs ?? 60_000,
    timing: { ...defaultGlassesHubTiming, ...options.timing },
  };
  checkId("hubId", config.hubId);
  checkId("pairing.ownerId", config.pairing.ownerId);
  checkId("pairing.glassesId", config.pairing.glassesId);
  checkId("pairing.walletId", config.pairing.walletId);
  if (!isLang(config.pairing.lang)) {
    throw new TapwireError(`pairing.lang must be one of fr, en, zh`, ErrorCode.ConfigInvalid);
  }
  const timingRanges: Ranges<GlassesHubTiming> = Object.fromEntries(
    Object.keys(config.timing).map((name) => [name, [1, timingMsMax, "milliseconds"] as const]),
  );
  const problems = [...rangeProblems(config, countRanges), ...rangeProblems(config.timing, timingRanges, "timing.")];
  if (config.requestTtlMs <= config.timing.decisionTimeoutMs) problems.push("requestTtlMs: must be longer than timing.decisionTimeoutMs");
  assertNoProblems(problems, "glasses hub configuration");
  return config;
}
