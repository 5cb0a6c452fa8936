import { ErrorCode, type ErrorCode as ErrorCodeValue } from "../../protocol/errors.ts";
import { amountMinorMax, isCurrency } from "../../protocol/money.ts";
import type { JournalSale } from "../journal/hub-journal.ts";
import type { IndicatorState } from "../ports.ts";
import type { TapContext, TapEvent } from "./tap-context.ts";

/** The tap machine's decisions that are plain functions of its context: what to show, whether a sale may start. */

/** The LED state when no sale runs: the first fault a cashier must know about, else idle/offline. */
export function restingState(context: TapContext): IndicatorState {
  if (!context.ports.reader.present) return "readerGone";
  if (context.ports.clockWatch.status.state === "wrong") return "clockWrong";
  return context.ports.settlement.online ? "idle" : "offline";
}

/** What the LEDs say about the last sale: green if the customer was charged, dark if not, red if a person must look. */
export function lastSaleIndicator(sale: JournalSale | undefined): IndicatorState {
  switch (sale?.outcome) {
    case "approved":
      return "approved";
    case "approved_offline":
      return "approvedOffline";
    case "reversal_refused":
      return "error";
    case "pending":
      return "authorizing";
    default:
      return "cancelled";
  }
}

export type SetAmount = Extract<TapEvent, { type: "SET_AMOUNT" }>;

/** Why a sale cannot start, checked in order; undefined when it can. */
export function saleRefusal(context: TapContext, event: SetAmount): { code: ErrorCodeValue; reason: string } | undefined {
  if (!Number.isSafeInteger(event.amountMinor) || event.amountMinor < 1 || event.amountMinor > amountMinorMax) {
    return { code: ErrorCode.InvalidMoney, reason: "amount must be a positive integer of minor units" };
  }
  if (!isCurrency(event.currency)) return { code: ErrorCode.UnknownCurrency, reason: "unknown currency" };
  if (event.mode !== "reader" && event.mode !== "tag") return { code: ErrorCode.ConfigInvalid, reason: "mode must be reader or tag" };
  if (!context.ports.reader.present) return { code: ErrorCode.ReaderGone, reason: "the NFC reader is not answering; the hub is reopening it" };
  if (context.ports.settlement.online) return undefined;
  const offline = context.config.offline;
  if (offline === undefined) return { code: ErrorCode.OfflineUnavailable, reason: "no link to the settlement service, and offline sales are off" };
  if (event.mode !== "reader") return { code: ErrorCode.OfflineUnavailable, reason: "tag-mode payments need the link to the settlement service" };
  if (event.currency !== offline.currency) return { code: ErrorCode.OfflineUnavailable, reason: `offline sales are in ${offline.currency} only` };
  return undefined;
}
