import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { isLang, type Intent, type IntentParser, type Lang, type UnclearReason } from "./intent.ts";
import { normalizeText, toUnits, unitsOf } from "./normalize.ts";
import { phraseTables, zhMeasureWords, zhNumerals, zhStandaloneCounts, type PhraseTable } from "./phrase-tables.ts";

export interface TableIntentParserOptions {
  /** Below this recogniser confidence (0..1) a transcript is not trusted at all. Default 0.6. */
  asrConfidenceMin?: number;
  /** Longer transcripts are not a point-of-sale answer. Default 200 characters. */
  textCharsMax?: number;
  /** Largest count a person can say (digits beyond are not read as a count). Default 9999. */
  quantitySpokenMax?: number;
}

type Category = "confirm" | "cancel" | "hedge" | "negator" | "quantity";

interface Match {
  category: Category;
  start: number;
  /** Exclusive. */
  end: number;
  quantity?: number;
}

interface CompiledTable {
  table: PhraseTable;
  phrases: { category: Exclude<Category, "quantity">; units: string[] }[];
}

function compile(lang: Lang, table: PhraseTable): CompiledTable {
  const categories = ["confirm", "cancel", "hedge", "negator"] as const;
  const phrases = categories.flatMap((category) =>
    table[category].map((phrase) => ({ category, units: unitsOf(phrase, lang) })),
  );
  return { table, phrases };
}

const compiled: Readonly<Record<Lang, CompiledTable>> = {
  en: compile("en", phraseTables.en),
  fr: compile("fr", phraseTables.fr),
  zh: compile("zh", phraseTables.zh),
};

/**
 * Deterministic, table-driven reading of short point-of-sale answers in French, English and Chinese.
 * Rules, in order: untrusted or empty transcript → unclear; any refusal (a cancel phrase, a negator, or a
 * negated confirmation) together with a confirmation or a count → unclear; a refusal alone → cancel;
 * a hesitation or question → unclear; two different counts → unclear; a count → quantity (confirmed when
 * a confirmation is present too); a confirmation → confirm; nothing recognised → unclear.
 */
export class TableIntentParser implements IntentParser {
  private readonly asrConfidenceMin: number;
  private readonly textCharsMax: number;
  private readonly quantitySpokenMax: number;

  constructor(options: TableIntentParserOptions = {}) {
    this.asrConfidenceMin = options.asrConfidenceMin ?? 0.6;
    this.textCharsMax = options.textCharsMax ?? 200;
    this.quantitySpokenMax = options.quantitySpokenMax ?? 9999;
    if (!(this.asrConfidenceMin >= 0 && this.asrConfidenceMin <= 1)) {
      throw new TapwireError(`asrConfidenceMin must be between 0 and 1, got ${this.asrConfidenceMin}`, ErrorCode.ConfigInvalid);
    }
    if (!Number.isSafeInteger(this.textCharsMax) || this.textCharsMax < 1) {
      throw new TapwireError(`textCharsMax must be a positive integer of characters`, ErrorCode.ConfigInvalid);
    }
    if (!Number.isSafeInteger(this.quantitySpokenMax) || this.quantitySpokenMax < 1) {
      throw new TapwireError(`quantitySpokenMax must be a positive integer`, ErrorCode.ConfigInvalid);
    }
  }

  parse(text: string, lang: Lang, asrConfidence = 1): Intent {
    const confidence = Number.isFinite(asrConfidence) ? Math.min(Math.max(asrConfidence, 0), 1) : 0;
    const unclear = (reason: UnclearReason): Intent => ({ kind: "unclear", reason, confidence });
    if (!isLang(lang)) return unclear("unsupported_language");
    if (confidence < this.asrConfidenceMin) return unclear("low_confidence");
    if (text.length > this.textCharsMax) return unclear("too_long");
    const units = toUnits(normalizeText(text, lang), lang);
    if (units.length === 0) return unclear("empty");

    const { table, phrases } = compiled[lang];
    const found = [...phraseMatches(units, phrases), ...this.quantityMatches(units, lang, table)];
    const matches = found.filter((m) => !found.some((other) => shadows(other, m)));
    const negators = matches.filter((m) => m.category === "negator");
    const confirms = matches.filter((m) => m.category === "confirm" && !negators.some((n) => negates(n, m, table)));
    const refused = negators.length > 0 || matches.some((m) => m.category === "cancel");
    const counts = new Set(matches.filter((m) => m.category === "quantity").map((m) => m.quantity));
    const questioned = text.normalize("NFKC").includes("?");

    if (refused && (confirms.length > 0 || counts.size > 0)) return unclear("conflict");
    if (refused) return { kind: "cancel", confidence };
    if (questioned || matches.some((m) => m.category === "hedge")) return unclear("hedge");
    if (counts.size > 1) return unclear("conflict");
    const [quantity] = counts;
    if (quantity !== undefined) return { kind: "quantity", quantity, confirm: confirms.length > 0, confidence };
    if (confirms.length > 0) return { kind: "confirm", confidence };
    return unclear("no_match");
  }

  private quantityMatches(units: string[], lang: Lang, table: PhraseTable): Match[] {
    if (lang === "zh") return zhQuantityMatches(units, this.quantitySpokenMax);
    const matches: Match[] = [];
    units.forEach((unit, index) => {
      const quantity = table.numbers[unit] ?? digitsValue(unit, this.quantitySpokenMax);
      if (quantity !== undefined) matches.push({ category: "quantity", start: index, end: index + 1, quantity });
    });
    return matches;
  }
}

function phraseMatches(units: string[], phrases: CompiledTable["phrases"]): Match[] {
  const matches: Match[] = [];
  for (const { category, units: phrase } of phrases) {
    for (let start = 0; start + phrase.length <= units.length; start++) {
      if (phrase.every((unit, offset) => units[start + offset] === unit)) {
        matches.push({ category, start, end: start + phrase.length });
      }
    }
  }
  return matches;
}

/**
 * A longer phrase of another category swallows the phrases inside it ("no problem" is not a "no"), except
 * that a negator inside a refusal still negates what stands next to it ("我不要这个").
 */
function shadows(outer: Match, inner: Match): boolean {
  if (outer.category === inner.category) return false;
  if (inner.category === "negator" && outer.category === "cancel") return false;
  const contains = outer.start <= inner.start && inner.end <= outer.end;
  return contains && outer.end - outer.start > inner.end - inner.start;
}

function negates(negator: Match, confirm: Match, table: PhraseTable): boolean {
  const gapBefore = confirm.start - negator.end;
  const gapAfter = negator.start - confirm.end;
  const overlaps = negator.start < confirm.end && confirm.start < negator.end;
  return overlaps || (gapBefore >= 0 && gapBefore <= table.negationBeforeUnits) || (gapAfter >= 0 && gapAfter <= table.negationAfterUnits);
}

function digitsValue(unit: string, quantityMax: number): number | undefined {
  if (!/^[1-9][0-9]{0,5}$/.test(unit)) return undefined;
  const value = Number(unit);
  return value <= quantityMax ? value : undefined;
}

/** "两个", "3件", "十二双", "俩": a numeral followed by a measure word (or a standalone count). */
function zhQuantityMatches(units: string[], quantityMax: number): Match[] {
  const matches: Match[] = [];
  let index = 0;
  while (index < units.length) {
    const standalone = zhStandaloneCounts[units[index]!];
    if (standalone !== undefined) {
      matches.push({ category: "quantity", start: index, end: index + 1, quantity: standalone });
      index += 1;
      continue;
    }
    let end = index;
    while (end < units.length && isZhNumeralUnit(units[end]!)) end++;
    if (end === index) {
      index += 1;
      continue;
    }
    const quantity = zhNumeralValue(units.slice(index, end), quantityMax);
    const counted = (end < units.length && zhMeasureWords.has(units[end]!)) || (index === 0 && end === units.length);
    if (quantity !== undefined && counted) matches.push({ category: "quantity", start: index, end, quantity });
    index = end;
  }
  return matches;
}

function isZhNumeralUnit(unit: string): boolean {
  return zhNumerals[unit] !== undefined || /^[0-9]$/.test(unit);
}

/** Digits, or a Chinese numeral up to 99 (十, 十二, 二十, 二十三). */
function zhNumeralValue(run: string[], quantityMax: number): number | undefined {
  if (run.every((unit) => /^[0-9]$/.test(unit))) return digitsValue(run.join(""), quantityMax);
  if (run.some((unit) => /^[0-9]$/.test(unit))) return undefined;
  const values = run.map((unit) => zhNumerals[unit]!);
  const tenAt = run.indexOf("十");
  let value: number | undefined;
  if (tenAt === -1) value = values.length === 1 ? values[0] : undefined;
  else if (run.lastIndexOf("十") !== tenAt || tenAt > 1 || run.length - tenAt > 2) value = undefined;
  else {
    const tens = tenAt === 0 ? 1 : values[0]!;
    const ones = tenAt === run.length - 1 ? 0 : values[tenAt + 1]!;
    value = tens <= 9 && ones <= 9 ? tens * 10 + ones : undefined;
  }
  return value !== undefined && value <= quantityMax ? value : undefined;
}
