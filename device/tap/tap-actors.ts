import { fromCallback, fromPromise } from "xstate";
import { isTapwireError, type ErrorCode as ErrorCodeValue } from "../../protocol/errors.ts";
import { readPaymentCode } from "../../protocol/payment-code.ts";
import type { CodeCredential, HceCredential } from "../../protocol/messages.ts";
import { paymentRequestSchema } from "../../protocol/messages.ts";
import type { Random } from "../../core/sources.ts";
import type { JournalRequest, JournalSale, NewSale } from "../journal/hub-journal.ts";
import type { ClockWatch } from "../link/clock-watch.ts";
import type { Answer, Outbox } from "../link/outbox.ts";
import type { RequestSealer, ReversalReason } from "../link/sealer.ts";
import type { CodeScannerPort, IndicatorPort, SettlementPort, TapReaderPort } from "../ports.ts";
import type { OfflineConfig } from "./tap-config.ts";

/**
 * The tap machine's side effects, each a named actor over a port or the outbox. Tests replace any of them with
 * `tapMachine.provide({ actors: { ... } })`; the real ones only forward. They are async so that a port throwing
 * synchronously still lands in the state's onError.
 */

export type TapWorldEvent =
  | { type: "CANCEL" }
  | { type: "SALE_SETTLED"; sale: JournalSale }
  | { type: "READER"; present: boolean }
  | { type: "LINK"; online: boolean }
  | { type: "CLOCK" }
  | { type: "SCAN"; credential: CodeCredential }
  | { type: "SCAN_REFUSED"; code: ErrorCodeValue; reason: string };

export const watchCancelButton = fromCallback<TapWorldEvent, { indicator: IndicatorPort }>(({ input, sendBack }) =>
  input.indicator.onCancel(() => sendBack({ type: "CANCEL" })),
);

/** Sales the outbox settles (also long after the customer left: an offline capture, a late reversal). */
export const watchSales = fromCallback<TapWorldEvent, { outbox: Outbox }>(({ input, sendBack }) =>
  input.outbox.onSale((sale) => sendBack({ type: "SALE_SETTLED", sale })),
);

export const watchReader = fromCallback<TapWorldEvent, { reader: TapReaderPort }>(({ input, sendBack }) =>
  input.reader.onPresence((present) => sendBack({ type: "READER", present })),
);

export const watchLink = fromCallback<TapWorldEvent, { settlement: SettlementPort }>(({ input, sendBack }) =>
  input.settlement.onStatus((online) => sendBack({ type: "LINK", online })),
);

export const watchClock = fromCallback<TapWorldEvent, { clockWatch: ClockWatch }>(({ input, sendBack }) =>
  input.clockWatch.onChange(() => sendBack({ type: "CLOCK" })),
);

/** What a scan means to the hub: a payment code (still unverified: the service checks its signature), or a refusal. */
function scanEvent(text: string): TapWorldEvent {
  try {
    const { code, walletId } = readPaymentCode(text);
    return { type: "SCAN", credential: { kind: "code", walletId, code } };
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return { type: "SCAN_REFUSED", code: error.code, reason: error.message };
  }
}

/** Scans, when the hub has a payment-code scanner; nothing otherwise. */
export const watchScanner = fromCallback<TapWorldEvent, { scanner: CodeScannerPort | undefined }>(({ input, sendBack }) =>
  input.scanner?.onScan((text) => sendBack(scanEvent(text))),
);

export const readCard = fromPromise<HceCredential, { reader: TapReaderPort; hubId: string; amountMinor: number; currency: string }>(
  async ({ input, signal }) => input.reader.readCard({ hubId: input.hubId, amountMinor: input.amountMinor, currency: input.currency, signal }),
);

export const presentOffer = fromPromise<void, { reader: TapReaderPort; offer: Buffer }>(async ({ input, signal }) =>
  input.reader.presentOffer({ offer: input.offer, signal }),
);

export interface SaleInput {
  sealer: RequestSealer;
  random: Random;
  amountMinor: number;
  currency: string;
  ttlMs: number;
}

function newSale(input: SaleInput, mode: string): NewSale {
  return { saleId: input.random.uuid(), mode, amountMinor: input.amountMinor, currency: input.currency };
}

/** Signs the reader-mode payment and journals it with its sale; nothing has left the hub yet. */
export const sealPayment = fromPromise<JournalRequest, SaleInput & { credential: HceCredential | CodeCredential }>(async ({ input }) => {
  const sale = newSale(input, "reader");
  return input.sealer.seal(
    paymentRequestSchema,
    { kind: "payment", saleId: sale.saleId, sale, ttlMs: input.ttlMs },
    { type: "payment_request", amountMinor: input.amountMinor, currency: input.currency, mode: "reader", payer: input.credential },
  );
});

export const sealOffer = fromPromise<JournalRequest, SaleInput>(async ({ input }) => input.sealer.offer(newSale(input, "tag"), input.ttlMs));

/** Approves a reader-mode sale offline within the floor limits: the capture is journaled before anyone is told. */
export const storeOffline = fromPromise<JournalSale, { outbox: Outbox; random: Random; offline: OfflineConfig; amountMinor: number; credential: HceCredential }>(
  async ({ input }) =>
    input.outbox.captureOffline(
      { saleId: input.random.uuid(), mode: "offline", amountMinor: input.amountMinor, currency: input.offline.currency },
      input.credential,
      input.offline.limits,
    ),
);

export const sendRequest = fromPromise<Answer, { outbox: Outbox; request: JournalRequest }>(async ({ input, signal }) =>
  input.request.kind === "offer" ? input.outbox.expect(input.request, signal) : input.outbox.send(input.request, signal),
);

export const awaitAnswer = fromPromise<Answer, { outbox: Outbox; requestId: string }>(async ({ input, signal }) =>
  input.outbox.answer(input.requestId, signal),
);

/** Journals the reversal (superseding the payment) and hands it to the outbox, which sends it until it is decided. */
export const reverse = fromPromise<JournalRequest, { outbox: Outbox; saleId: string; paymentRequestId: string; reason: ReversalReason }>(
  async ({ input }) => input.outbox.reverse(input.saleId, input.paymentRequestId, input.reason),
);

export const awaitSale = fromPromise<JournalSale, { outbox: Outbox; saleId: string }>(async ({ input, signal }) =>
  input.outbox.saleOutcome(input.saleId, signal),
);
