import { formatMoney } from "../../protocol/money.ts";
import type { Lang } from "../intent/intent.ts";
import type { OutcomeKind } from "./outcome.ts";
import type { Offer } from "./ports.ts";

/** Everything the hub says or shows, in the customer's language. */
export interface Speech {
  offer(offer: Offer): string;
  reprompt(): string;
  confirmIdentity(offer: Offer): string;
  stepUp(): string;
  review(): string;
  outcome(kind: OutcomeKind, offer: Offer | undefined, quantityMax: number): string;
}

function price(offer: Offer): string {
  const item = offer.quantity > 1 ? `${offer.quantity} × ${offer.productName}` : offer.productName;
  return `${item}, ${formatMoney({ amountMinor: offer.amountMinor, currency: offer.currency })}`;
}

function total(offer: Offer | undefined): string {
  return offer ? formatMoney({ amountMinor: offer.amountMinor, currency: offer.currency }) : "";
}

const en: Speech = {
  offer: (offer) => `${price(offer)} — say "I'll take it"`,
  reprompt: () => `Sorry, I didn't catch that. Say "I'll take it" or "cancel".`,
  confirmIdentity: (offer) => `Confirm it's you to pay ${total(offer)}.`,
  stepUp: () => "Your bank asks you to confirm once more.",
  review: () => "Your payment is being reviewed. Please wait.",
  outcome: (kind, offer, quantityMax) =>
    ({
      approved: `Paid ${total(offer)}. Thank you!`,
      declined: "Payment declined. Nothing was paid.",
      cancelled: "Cancelled. Nothing was paid.",
      silence: "No answer, so nothing was paid.",
      unclear: "I couldn't understand, so nothing was paid.",
      quantity_refused: `At most ${quantityMax} per purchase. Nothing was paid.`,
      offer_expired: "The offer expired. Nothing was paid.",
      biometric_failed: "Identity not confirmed. Nothing was paid.",
      biometric_timeout: "No confirmation received. Nothing was paid.",
      wrong_person: "These glasses are not paired with you. Nothing was paid.",
      step_up_exhausted: "The bank could not confirm it's you. Nothing was paid.",
      review_timeout: "The review took too long; the payment was cancelled.",
      no_decision: "No answer from the bank; the payment was cancelled.",
      failed: "Something went wrong. Nothing was paid.",
    })[kind],
};

const fr: Speech = {
  offer: (offer) => `${price(offer)} — dites « je le prends »`,
  reprompt: () => "Pardon, je n'ai pas compris. Dites « je le prends » ou « annule ».",
  confirmIdentity: (offer) => `Confirmez que c'est bien vous pour payer ${total(offer)}.`,
  stepUp: () => "Votre banque demande une confirmation supplémentaire.",
  review: () => "Votre paiement est en cours de vérification. Patientez.",
  outcome: (kind, offer, quantityMax) =>
    ({
      approved: `Payé ${total(offer)}. Merci !`,
      declined: "Paiement refusé. Rien n'a été payé.",
      cancelled: "Annulé. Rien n'a été payé.",
      silence: "Pas de réponse : rien n'a été payé.",
      unclear: "Je n'ai pas compris : rien n'a été payé.",
      quantity_refused: `${quantityMax} au maximum par achat. Rien n'a été payé.`,
      offer_expired: "L'offre a expiré. Rien n'a été payé.",
      biometric_failed: "Identité non confirmée. Rien n'a été payé.",
      biometric_timeout: "Aucune confirmation reçue. Rien n'a été payé.",
      wrong_person: "Ces lunettes ne sont pas associées à vous. Rien n'a été payé.",
      step_up_exhausted: "La banque n'a pas pu confirmer votre identité. Rien n'a été payé.",
      review_timeout: "La vérification a pris trop de temps : le paiement est annulé.",
      no_decision: "Pas de réponse de la banque : le paiement est annulé.",
      failed: "Un problème est survenu. Rien n'a été payé.",
    })[kind],
};

const zh: Speech = {
  offer: (offer) => `${price(offer)} — 请说"我要这个"`,
  reprompt: () => `抱歉，没听清。请说"我要这个"或"取消"。`,
  confirmIdentity: (offer) => `请验证身份以支付${total(offer)}。`,
  stepUp: () => "银行要求您再次确认身份。",
  review: () => "您的付款正在审核，请稍候。",
  outcome: (kind, offer, quantityMax) =>
    ({
      approved: `已支付${total(offer)}，谢谢！`,
      declined: "付款被拒绝，未扣款。",
      cancelled: "已取消，未扣款。",
      silence: "没有回应，未扣款。",
      unclear: "没听懂，未扣款。",
      quantity_refused: `每次最多购买${quantityMax}件，未扣款。`,
      offer_expired: "报价已过期，未扣款。",
      biometric_failed: "身份未确认，未扣款。",
      biometric_timeout: "未收到确认，未扣款。",
      wrong_person: "这副眼镜未与您配对，未扣款。",
      step_up_exhausted: "银行无法确认您的身份，未扣款。",
      review_timeout: "审核超时，付款已取消。",
      no_decision: "银行没有回应，付款已取消。",
      failed: "出现问题，未扣款。",
    })[kind],
};

export const speech: Readonly<Record<Lang, Speech>> = { en, fr, zh };
