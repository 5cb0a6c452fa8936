/**
 * What a person meant by one utterance at the point of sale. The hub only ever pays on `confirm` or on
 * `quantity` with `confirm: true`; everything it cannot read for certain is `unclear`, which never pays.
 */
export const langs = ["fr", "en", "zh"] as const;
export type Lang = (typeof langs)[number];

export function isLang(value: unknown): value is Lang {
  return typeof value === "string" && (langs as readonly string[]).includes(value);
}

export const unclearReasons = [
  "low_confidence",
  "empty",
  "too_long",
  "conflict",
  "hedge",
  "no_match",
  "unsupported_language",
  "parser_failed",
] as const;
export type UnclearReason = (typeof unclearReasons)[number];

/** `confidence` is in 0..1: how sure the parser (and the speech recogniser before it) is of this reading. */
export type Intent =
  | { kind: "confirm"; confidence: number }
  | { kind: "cancel"; confidence: number }
  | { kind: "quantity"; quantity: number; confirm: boolean; confidence: number }
  | { kind: "unclear"; reason: UnclearReason; confidence: number };

/**
 * The seam where a speech or language-model service plugs in: it may answer asynchronously. The hub
 * machine treats a thrown error or a rejected promise as `unclear`.
 *
 * `asrConfidence` is the recogniser's own confidence in the transcript (0..1, default 1 for typed text).
 */
export interface IntentParser {
  parse(text: string, lang: Lang, asrConfidence?: number): Intent | Promise<Intent>;
}
