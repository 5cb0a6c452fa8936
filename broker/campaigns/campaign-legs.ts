import { campaignAccountId, merchantAccountId, walletAccountId, type TransferInput } from "../ledger/ledger.ts";
import type { GiveBack, Pricing } from "./redemptions.ts";

/** Who a payment moved money between, and the business record its transfers name. */
export interface PaymentParties {
  walletId: string;
  merchantId: string;
  currency: string;
  /** `<hubId>/<requestId>` of the payment, refund or reversal. */
  reference: string;
}

/**
 * The legs of a payment, posted together: the customer pays amount − discount into the merchant's account and,
 * with a discount, the campaign's account pays the discount into it. The merchant always receives the amount.
 */
export function paymentLegs(p: PaymentParties, amountMinor: number, pricing: Pricing): TransferInput[] {
  const merchant = merchantAccountId(p.merchantId);
  const discountMinor = pricing.outcome === "discounted" ? pricing.discountMinor : 0;
  const legs: TransferInput[] = [
    { debitAccountId: walletAccountId(p.walletId), creditAccountId: merchant, amountMinor: amountMinor - discountMinor, currency: p.currency, kind: "payment", reference: p.reference },
  ];
  if (pricing.outcome === "discounted") {
    legs.push({ debitAccountId: campaignAccountId(pricing.campaignId), creditAccountId: merchant, amountMinor: discountMinor, currency: p.currency, kind: "campaign_discount", reference: p.reference });
  }
  return legs;
}

/**
 * The legs of giving amountMinor of a payment back (`kind` refund or reversal): the campaign's share to its
 * account, the rest to the customer; a leg of 0 is left out, so there are one or two.
 */
export function giveBackLegs(p: PaymentParties, amountMinor: number, kind: string, back: GiveBack | undefined): TransferInput[] {
  const merchant = merchantAccountId(p.merchantId);
  const shareMinor = back?.shareMinor ?? 0;
  const legs: TransferInput[] = [];
  if (amountMinor > shareMinor) {
    legs.push({ debitAccountId: merchant, creditAccountId: walletAccountId(p.walletId), amountMinor: amountMinor - shareMinor, currency: p.currency, kind, reference: p.reference });
  }
  if (back && shareMinor > 0) {
    legs.push({ debitAccountId: merchant, creditAccountId: campaignAccountId(back.campaignId), amountMinor: shareMinor, currency: p.currency, kind: "campaign_return", reference: p.reference });
  }
  return legs;
}
