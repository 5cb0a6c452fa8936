import type { Lang } from "./intent.ts";

/**
 * Phrase tables for the point-of-sale conversation. Entries are written as people say them; the parser
 * normalizes them exactly as it normalizes transcripts. A phrase that contains a shorter phrase of another
 * category wins over it ("no problem" is a confirmation, "je ne sais pas" a hesitation), so idioms go here
 * whole. Negators switch off a confirmation within a few units of it ("je ne le prends pas").
 */
export interface PhraseTable {
  confirm: readonly string[];
  cancel: readonly string[];
  /** Hesitations and questions: never a decision. */
  hedge: readonly string[];
  negator: readonly string[];
  /** Whole-unit number words (French, English). Chinese numerals are parsed with measure words instead. */
  numbers: Readonly<Record<string, number>>;
  /** How far before / after a confirmation a negator still negates it, in units (words, or characters for zh). */
  negationBeforeUnits: number;
  negationAfterUnits: number;
}

const en: PhraseTable = {
  confirm: [
    "yes", "yeah", "yep", "yup", "sure", "sure thing", "ok", "okay", "alright", "all right",
    "i'll take it", "i will take it", "ill take it", "take it", "take", "i'll take them", "take them",
    "i'll have it", "i'll have", "buy", "buy it", "buy them", "i'll buy it", "purchase", "pay", "i want it",
    "want", "confirm", "confirmed", "go ahead", "do it", "let's do it", "sounds good", "deal", "perfect",
    "absolutely", "of course", "definitely", "no problem", "why not", "get it", "i'll get it",
  ],
  cancel: [
    "no", "nope", "nah", "cancel", "cancel it", "stop", "never mind", "nevermind", "forget it", "abort",
    "no thanks", "no thank you", "leave it", "skip it", "i'll pass", "not interested", "not now",
  ],
  hedge: [
    "maybe", "perhaps", "not sure", "i'm not sure", "don't know", "dont know", "dunno", "let me think",
    "think about it", "hmm", "hm", "later", "wait", "hold on", "how much", "what", "which",
  ],
  negator: [
    "not", "don't", "dont", "won't", "wont", "never", "can't", "cant", "cannot", "didn't", "doesn't",
    "shouldn't", "wouldn't", "no longer",
  ],
  numbers: {
    one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
    eleven: 11, twelve: 12,
  },
  negationBeforeUnits: 3,
  negationAfterUnits: 0,
};

const fr: PhraseTable = {
  confirm: [
    "oui", "ouais", "d'accord", "ok", "okay", "je le prends", "je la prends", "je les prends", "je prends",
    "prends", "prends le", "je l'achète", "j'achète", "achète", "acheter", "je le veux", "je la veux",
    "je veux", "veux", "j'en veux", "j'en prends", "vas-y", "allez-y", "allez", "confirme", "je confirme",
    "confirmer", "valide", "je valide", "valider", "parfait", "volontiers", "bien sûr", "carrément",
    "pas de problème", "pas de souci", "sans problème", "pourquoi pas", "payer", "je paie", "je paye",
    "ça marche", "entendu", "tout à fait", "avec plaisir",
  ],
  cancel: [
    "non", "non merci", "annule", "annuler", "annulez", "arrête", "arrêtez", "stop", "laisse tomber",
    "laissez tomber", "oublie", "oubliez", "pas question", "sûrement pas", "je ne le prends pas",
    "je ne la prends pas", "je n'en veux pas", "pas maintenant", "sans façon",
  ],
  hedge: [
    "peut-être", "je ne sais pas", "je sais pas", "j'hésite", "hésite", "attends", "attendez",
    "plus tard", "je réfléchis", "réfléchir", "bof", "euh", "hum", "combien", "quoi", "pardon", "comment",
  ],
  negator: ["ne", "n'", "pas", "jamais", "aucun", "aucune", "rien"],
  numbers: {
    un: 1, une: 1, deux: 2, trois: 3, quatre: 4, cinq: 5, six: 6, sept: 7, huit: 8, neuf: 9, dix: 10,
    onze: 11, douze: 12,
  },
  negationBeforeUnits: 3,
  // Spoken French often drops "ne": "je le prends pas".
  negationAfterUnits: 2,
};

const zh: PhraseTable = {
  confirm: [
    "我要这个", "我要", "要这个", "要", "想要", "买", "我买", "买了", "买这个", "买它", "好的", "好", "好啊",
    "好吧", "行", "可以", "确认", "确定", "是的", "对", "对的", "没问题", "就这个", "就它", "来", "付款",
    "支付", "ok",
  ],
  cancel: [
    "不要", "不买", "算了", "取消", "不用", "不用了", "不了", "别买", "停", "停止", "不需要", "不想要",
    "不要了", "放弃", "没兴趣",
  ],
  hedge: [
    "也许", "可能", "考虑", "想想", "等一下", "等等", "再说", "不知道", "不确定", "犹豫", "多少钱", "多少",
    "吗", "呢", "是不是", "要不要", "买不买", "好不好", "可不可以", "行不行", "什么", "嗯", "呃",
    // Reactions to the product, not decisions: they must not count as the bare "好".
    "很好", "好看", "不错",
  ],
  negator: ["不", "别", "没", "没有", "甭", "勿"],
  numbers: {},
  negationBeforeUnits: 1,
  negationAfterUnits: 0,
};

export const phraseTables: Readonly<Record<Lang, PhraseTable>> = { en, fr, zh };

/** Chinese numerals and the measure words that mark them as a count ("两个", "三双"). */
export const zhNumerals: Readonly<Record<string, number>> = {
  一: 1, 二: 2, 两: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9, 十: 10,
};
export const zhMeasureWords: ReadonlySet<string> = new Set(
  ["个", "件", "双", "份", "瓶", "杯", "盒", "只", "条", "张", "本", "台", "支", "包", "套", "块", "罐", "副", "顶"],
);
/** Counts that need no measure word. */
export const zhStandaloneCounts: Readonly<Record<string, number>> = { 俩: 2 };
