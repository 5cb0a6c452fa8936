import type { SaleOutcome } from "../journal/hub-journal.ts";
import type { ReversalReason } from "../link/sealer.ts";
import type { ReversalRecord, Sale, TapContext, TapSnapshot } from "./tap-machine.ts";

export const tapStateNames = [
  "boot",
  "recovering",
  "showingLastSale",
  "idle",
  "waitingForTap",
  "storingOffline",
  "authorizing",
  "reversing",
  "approved",
  "approvedOffline",
  "declined",
  "timedOut",
  "cancelled",
  "failed",
] as const;
export type TapStateName = (typeof tapStateNames)[number];

/** What a UI shows: plain data, no ports. Link, reader and clock are read from their owners, not copied. */
export interface TapView {
  state: TapStateName;
  online: boolean;
  readerPresent: boolean;
  clockWrong: boolean;
  sale: Sale | undefined;
  lastDecisionCode: number | undefined;
  reason: string | undefined;
  reversal: { status: ReversalRecord["status"]; reason: ReversalReason } | undefined;
  refusal: TapContext["refusal"];
  /** The latest sale the journal knows, with its outcome: what became of the last sale, also after a reboot. */
  lastSale: { outcome: SaleOutcome; code: number; amountMinor: number; currency: string; mode: string } | undefined;
}

export function tapView(snapshot: TapSnapshot): TapView {
  const { context } = snapshot;
  const state = (typeof snapshot.value === "string" ? snapshot.value : Object.keys(snapshot.value)[0]) as TapStateName;
  const { lastSale } = context;
  return {
    state,
    online: context.ports.settlement.online,
    readerPresent: context.ports.reader.present,
    clockWrong: context.ports.clockWatch.status.state === "wrong",
    sale: context.sale,
    lastDecisionCode: context.lastDecisionCode,
    reason: context.reason,
    reversal: context.reversal && { status: context.reversal.status, reason: context.reversal.reason },
    refusal: context.refusal,
    lastSale: lastSale && {
      outcome: lastSale.outcome,
      code: lastSale.code,
      amountMinor: lastSale.amountMinor,
      currency: lastSale.currency,
      mode: lastSale.mode,
    },
  };
}
