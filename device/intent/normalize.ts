import type { Lang } from "./intent.ts";

/**
 * Turns a transcript into comparable units: word tokens for French and English, characters for Chinese
 * (written without spaces). Phrase tables go through the same function, so a table entry matches however
 * the recogniser spelled case, accents, quotes, punctuation or full-width forms.
 */
export function normalizeText(text: string, lang: Lang): string {
  let s = text.normalize("NFKC").toLowerCase();
  s = s.replace(/[\u2018\u2019\u02bc\u0060\u00b4]/g, "'");
  s = s.normalize("NFD").replace(/\p{M}+/gu, "");
  s = s.replace(/[^\p{L}\p{N}'\s]/gu, " ");
  // An apostrophe only counts inside a word (I'll, l'achète); quoting apostrophes become spaces.
  s = s.replace(/(^|[^\p{L}])'+|'+(?=[^\p{L}]|$)/gu, "$1 ");
  // French elision: "l'achète" is two words, so "n'" can act as a negation on its own.
  if (lang === "fr") s = s.replace(/'/g, "' ");
  return s.replace(/\s+/g, " ").trim();
}

export function toUnits(normalized: string, lang: Lang): string[] {
  if (normalized === "") return [];
  if (lang === "zh") return Array.from(normalized.replace(/\s+/g, ""));
  return normalized.split(" ");
}

export function unitsOf(text: string, lang: Lang): string[] {
  return toUnits(normalizeText(text, lang), lang);
}
