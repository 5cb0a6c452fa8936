import { describe, expect, it } from "vitest";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { langs, type Lang } from "../../device/intent/intent.ts";
import { normalizeText, unitsOf } from "../../device/intent/normalize.ts";
import { phraseTables } from "../../device/intent/phrase-tables.ts";
import { TableIntentParser } from "../../device/intent/table-intent-parser.ts";

const parser = new TableIntentParser();
const kindOf = (text: string, lang: Lang) => parser.parse(text, lang, 0.95).kind;

describe("intent tables: confirm", () => {
  it.each([
    ["I'll take it", "en"], ["yes", "en"], ["Yes please, buy it", "en"], ["OK", "en"], ["sure, go ahead", "en"],
    ["I want it", "en"], ["no problem, I'll take it", "en"], ["why not", "en"],
    ["je le prends", "fr"], ["Je la prends !", "fr"], ["oui", "fr"], ["d'accord", "fr"], ["Je l'achète", "fr"],
    ["ça marche", "fr"], ["pas de problème, je le prends", "fr"], ["pourquoi pas", "fr"], ["vas-y", "fr"],
    ["我要这个", "zh"], ["买", "zh"], ["好的", "zh"], ["可以", "zh"], ["没问题", "zh"], ["就这个！", "zh"],
  ] as const)("%s (%s) → confirm", (text, lang) => {
    expect(kindOf(text, lang)).toBe("confirm");
  });
});

describe("intent tables: cancel", () => {
  it.each([
    ["no", "en"], ["cancel", "en"], ["No thanks", "en"], ["never mind", "en"], ["I don't want it", "en"],
    ["I will not take it", "en"], ["don't buy it", "en"],
    ["non", "fr"], ["annule", "fr"], ["non merci", "fr"], ["laisse tomber", "fr"], ["non je ne le prends pas", "fr"],
    ["je le prends pas", "fr"], ["je n'en veux pas", "fr"], ["Je ne l'achète pas", "fr"],
    ["不要", "zh"], ["算了", "zh"], ["取消", "zh"], ["我不要这个", "zh"], ["不买", "zh"], ["不用了", "zh"], ["不好", "zh"],
  ] as const)("%s (%s) → cancel", (text, lang) => {
    expect(kindOf(text, lang)).toBe("cancel");
  });
});

describe("intent tables: quantity", () => {
  it.each([
    ["two of them", "en", 2, false], ["I'll take two", "en", 2, true], ["buy 3", "en", 3, true], ["three", "en", 3, false],
    ["deux", "fr", 2, false], ["oui, deux", "fr", 2, true], ["j'en prends trois", "fr", 3, true], ["Je prends 4", "fr", 4, true],
    ["两个", "zh", 2, false], ["我要两个", "zh", 2, true], ["买三双", "zh", 3, true], ["十二个", "zh", 12, false],
    ["二十三件", "zh", 23, false], ["２个", "zh", 2, false], ["我要俩", "zh", 2, true],
  ] as const)("%s (%s) → %i, confirm %s", (text, lang, quantity, confirm) => {
    expect(parser.parse(text, lang, 0.95)).toEqual({ kind: "quantity", quantity, confirm, confidence: 0.95 });
  });

  it("two different counts are unclear", () => {
    expect(parser.parse("two, no, three", "en")).toMatchObject({ kind: "unclear", reason: "conflict" });
    expect(parser.parse("deux trois", "fr")).toMatchObject({ kind: "unclear", reason: "conflict" });
  });

  it("the same count said twice is that count", () => {
    expect(parser.parse("two, two of them", "en")).toMatchObject({ kind: "quantity", quantity: 2 });
  });

  it("does not read '一下' or a bare numeral inside a sentence as a count", () => {
    expect(parser.parse("等一下", "zh")).toMatchObject({ kind: "unclear" });
    expect(parser.parse("我要一", "zh")).toMatchObject({ kind: "confirm" });
  });
});

describe("intent tables: never a decision", () => {
  it.each([
    ["yes no", "en", "conflict"], ["I'll take it, no, cancel", "en", "conflict"], ["oui non", "fr", "conflict"],
    ["好的，不要", "zh", "conflict"], ["no, two of them", "en", "conflict"], ["不要两个", "zh", "conflict"],
    ["I'll take it, don't worry", "en", "conflict"],
    ["maybe", "en", "hedge"], ["I'll take it?", "en", "hedge"], ["let me think", "en", "hedge"],
    ["je ne sais pas", "fr", "hedge"], ["peut-être", "fr", "hedge"], ["je le prends ?", "fr", "hedge"],
    ["要不要", "zh", "hedge"], ["买吗？", "zh", "hedge"], ["考虑一下", "zh", "hedge"],
    ["the weather is nice", "en", "no_match"], ["il fait beau", "fr", "no_match"], ["今天下雨", "zh", "no_match"], ["天气很好", "zh", "hedge"], ["很好看", "zh", "hedge"],
    ["", "en", "empty"], ["  !!! ", "fr", "empty"],
  ] as const)("%s (%s) → unclear (%s)", (text, lang, reason) => {
    expect(parser.parse(text, lang, 0.95)).toEqual({ kind: "unclear", reason, confidence: 0.95 });
  });

  it("a transcript below the recogniser confidence threshold is unclear whatever it says", () => {
    expect(parser.parse("I'll take it", "en", 0.59)).toEqual({ kind: "unclear", reason: "low_confidence", confidence: 0.59 });
    expect(parser.parse("I'll take it", "en", 0.6)).toEqual({ kind: "confirm", confidence: 0.6 });
    expect(parser.parse("I'll take it", "en", Number.NaN)).toMatchObject({ kind: "unclear", reason: "low_confidence" });
    expect(new TableIntentParser({ asrConfidenceMin: 0.9 }).parse("yes", "en", 0.85)).toMatchObject({ kind: "unclear" });
  });

  it("an over-long transcript or an unsupported language is unclear", () => {
    expect(parser.parse(`yes ${"la ".repeat(100)}`, "en")).toMatchObject({ kind: "unclear", reason: "too_long" });
    expect(parser.parse("ja", "de" as Lang)).toMatchObject({ kind: "unclear", reason: "unsupported_language" });
  });

  it("rejects an out-of-range threshold at construction", () => {
    let caught: unknown;
    try {
      new TableIntentParser({ asrConfidenceMin: 1.5 });
    } catch (error) {
      caught = error;
    }
    expect(isTapwireError(caught, ErrorCode.ConfigInvalid)).toBe(true);
  });
});

describe("normalization", () => {
  it("folds case, accents, curly quotes, punctuation and full-width forms", () => {
    expect(normalizeText("D’ACCORD !", "fr")).toBe("d' accord");
    expect(normalizeText("Ça MARCHE…", "fr")).toBe("ca marche");
    expect(normalizeText("ＹＥＳ，ｂｕｙ ｉｔ！", "en")).toBe("yes buy it");
    expect(normalizeText("'I’ll take it'", "en")).toBe("i'll take it");
    expect(unitsOf("好的，两 个！", "zh")).toEqual(["好", "的", "两", "个"]);
  });

  it("full-width and accented input parses like plain input", () => {
    expect(kindOf("ＹＥＳ", "en")).toBe("confirm");
    expect(kindOf("JE L’ACHÈTE", "fr")).toBe("confirm");
    expect(kindOf("ANNULÉ", "fr")).toBe("cancel");
  });
});

describe("phrase tables", () => {
  it.each(langs)("%s: no phrase is in two categories", (lang) => {
    const table = phraseTables[lang];
    const seen = new Map<string, string>();
    for (const category of ["confirm", "cancel", "hedge", "negator"] as const) {
      for (const phrase of table[category]) {
        const key = unitsOf(phrase, lang).join(" ");
        expect(seen.get(key) ?? category, `${phrase} in ${seen.get(key)} and ${category}`).toBe(category);
        seen.set(key, category);
      }
    }
  });

  it.each(langs)("%s: every confirm phrase alone confirms, every cancel phrase alone cancels", (lang) => {
    const table = phraseTables[lang];
    for (const phrase of table.confirm) expect(kindOf(phrase, lang), phrase).toBe("confirm");
    for (const phrase of table.cancel) expect(kindOf(phrase, lang), phrase).toBe("cancel");
    for (const phrase of table.hedge) expect(parser.parse(phrase, lang), phrase).toMatchObject({ kind: "unclear" });
  });
});
