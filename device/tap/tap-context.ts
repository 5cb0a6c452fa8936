import { assert } from "../../core/assert.ts";
import { isTapwireError, type ErrorCode as ErrorCodeValue } from "../../protocol/errors.ts";
import type { CodeCredential, HceCredential } from "../../protocol/messages.ts";
import type { Random } from "../../core/sources.ts";
import type { JournalRequest, JournalSale } from "../journal/hub-journal.ts";
import type { ClockWatch } from "../link/clock-watch.ts";
import type { Answer, Outbox } from "../link/outbox.ts";
import type { RequestSealer, ReversalReason } from "../link/sealer.ts";
import type { CodeScannerPort, IndicatorPort, SettlementPort, TapReaderPort } from "../ports.ts";
import type { TapWorldEvent } from "./tap-actors.ts";
import type { TapConfig } from "./tap-config.ts";

/** The tap machine's types: what it runs on, what it hears, what it remembers; and the context's small builders. */

export type TapMode = "reader" | "tag";

export interface TapPorts {
  reader: TapReaderPort;
  indicator: IndicatorPort;
  /** Read for one fact only: whether the link is up (it owns that fact). Requests go through the outbox. */
  settlement: SettlementPort;
  outbox: Outbox;
  sealer: RequestSealer;
  clockWatch: ClockWatch;
  random: Random;
  /** A payment-code scanner, when the hub has one: a third way to pay, next to reader and tag mode. */
  scanner?: CodeScannerPort;
}

export interface TapInput {
  ports: TapPorts;
  config: TapConfig;
  /** The journal's most recent sale at start: an unfinished one is followed to its end before the hub sells again. */
  lastSale: JournalSale | undefined;
}

export type TapEvent = { type: "SET_AMOUNT"; amountMinor: number; currency: string; mode: TapMode } | TapWorldEvent;

export interface Sale {
  amountMinor: number;
  currency: string;
  mode: TapMode;
  /** Taken with the link down: reader mode only, within the floor limits. */
  offline: boolean;
}

/** Where the flow goes once the reversal is journaled and (within the wait) decided. */
export type AfterReversal = "cancelled" | "timedOut" | "declined";

export interface ReversalRecord {
  saleId: string;
  paymentRequestId: string;
  reason: ReversalReason;
  then: AfterReversal;
  /** pending: journaled and being resent by the outbox; the panel says so and the outbox finishes it. */
  status: "pending" | "reversed" | "refused";
}

export interface TapContext {
  readonly ports: TapPorts;
  readonly config: TapConfig;
  sale: Sale | undefined;
  /** What the customer paid with: a card or phone read in reader mode, or a scanned payment code. */
  credential: HceCredential | CodeCredential | undefined;
  /** The journaled request that charges the customer: the payment (reader) or offer (tag). */
  request: JournalRequest | undefined;
  answer: Answer | undefined;
  /** 0 when approved, else a TapwireError code (from the service's decision or the hub itself). */
  lastDecisionCode: number | undefined;
  reason: string | undefined;
  reversal: ReversalRecord | undefined;
  /** Why the last SET_AMOUNT was refused (busy, reader gone, offline limits, bad amount). */
  refusal: { code: ErrorCodeValue; reason: string } | undefined;
  /** The journal's latest sale as the outbox last reported it: what the panel shows after a reboot. */
  lastSale: JournalSale | undefined;
}

export function errorFields(error: unknown): { lastDecisionCode: number; reason: string } {
  // Only TapwireErrors reach here (the guards let anything else through to crash the hub): operating faults.
  assert(isTapwireError(error), `tap flow met a non-TapwireError: ${String(error)}`);
  return { lastDecisionCode: error.code, reason: error.message };
}

/** The card read an offline sale stores: offline sales take card reads only (a code's one use needs the service). */
export function cardRead(context: TapContext): HceCredential {
  const credential = context.credential;
  assert(credential?.kind === "hce", "offline sale without a card read");
  return credential;
}

export function reversalOf(context: TapContext, reason: ReversalReason, then: AfterReversal): ReversalRecord {
  const request = context.request;
  assert(request !== undefined, "reversal without a journaled payment");
  return { saleId: request.saleId, paymentRequestId: request.requestId, reason, then, status: "pending" };
}

export function answerFields(answer: Answer): Pick<TapContext, "answer" | "lastDecisionCode" | "reason"> {
  return { answer, lastDecisionCode: answer.decision.code, reason: answer.decision.reason };
}
