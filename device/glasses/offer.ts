import { assert } from "../../core/assert.ts";
import { isId } from "../../protocol/ids.ts";
import { amountMinorMax, isCurrency } from "../../protocol/money.ts";
import type { Offer, ProductSeen } from "./ports.ts";

export const productNameCharsMax = 64;

/** A product the hub can offer: valid ids, a short name, and a unit price of integer minor units. */
export function isOfferable(product: ProductSeen): boolean {
  return (
    isId(product.productId) &&
    isId(product.merchantId) &&
    typeof product.productName === "string" &&
    product.productName.length > 0 &&
    product.productName.length <= productNameCharsMax &&
    isCurrency(product.currency) &&
    Number.isSafeInteger(product.amountMinor) &&
    product.amountMinor >= 1 &&
    product.amountMinor <= amountMinorMax
  );
}

/** Whether `quantity` units can be sold at once: 1..quantityMax and a total within the amount limit. */
export function isQuantityAllowed(product: ProductSeen, quantity: number, quantityMax: number): boolean {
  return (
    Number.isSafeInteger(quantity) &&
    quantity >= 1 &&
    quantity <= quantityMax &&
    product.amountMinor <= Math.floor(amountMinorMax / quantity)
  );
}

/** Integer arithmetic only: the division check above keeps the product exact and within limits. */
export function offerFor(product: ProductSeen, quantity: number): Offer {
  assert(isQuantityAllowed(product, quantity, Number.MAX_SAFE_INTEGER), `quantity ${quantity} checked before pricing`);
  return {
    productId: product.productId,
    productName: product.productName,
    merchantId: product.merchantId,
    unitAmountMinor: product.amountMinor,
    quantity,
    amountMinor: product.amountMinor * quantity,
    currency: product.currency,
  };
}
