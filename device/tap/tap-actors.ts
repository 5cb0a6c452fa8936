import { fromCallback, fromPromise } from "xstate";
import type { Decision, HceCredential } from "../../protocol/messages.ts";
import type { Outbox } from "../link/outbox.ts";
import type { IndicatorPort, SettlementPort, TapReaderPort } from "../ports.ts";
import {
  sealPaymentRequest,
  sealReversal,
  sealTagOffer,
  type HubIdentity,
  type ReversalReason,
  type SealedRequest,
  type SealingSources,
} from "./requests.ts";

/**
 * The tap machine's side effects, each a named actor over a port. Tests replace any of them with
 * `tapMachine.provide({ actors: { ... } })`; the real ones only forward to the ports the lead wires in.
 * They are async so that a port (or the outbox) throwing synchronously still lands in the state's onError.
 */

export const watchCancelButton = fromCallback<{ type: "CANCEL" }, { indicator: IndicatorPort }>(({ input, sendBack }) =>
  input.indicator.onCancel(() => sendBack({ type: "CANCEL" })),
);

export const readCard = fromPromise<HceCredential, { reader: TapReaderPort; hubId: string; amountMinor: number; currency: string }>(
  async ({ input, signal }) =>
    input.reader.readCard({ hubId: input.hubId, amountMinor: input.amountMinor, currency: input.currency, signal }),
);

export const presentOffer = fromPromise<void, { reader: TapReaderPort; offer: Buffer }>(async ({ input, signal }) =>
  input.reader.presentOffer({ offer: input.offer, signal }),
);

interface SealInput {
  sources: SealingSources;
  identity: HubIdentity;
}

export const sealOffer = fromPromise<SealedRequest, SealInput & { amountMinor: number; currency: string; ttlMs: number }>(
  async ({ input }) => sealTagOffer(input.sources, input.identity, input),
);

export const sealPayment = fromPromise<
  SealedRequest,
  SealInput & { amountMinor: number; currency: string; credential: HceCredential; ttlMs: number }
>(async ({ input }) => sealPaymentRequest(input.sources, input.identity, input));

/** The reversal supersedes the payment: the outbox stops resending the payment it undoes. */
export const sealReversalRequest = fromPromise<
  SealedRequest,
  SealInput & { outbox: Outbox; paymentRequestId: string; reason: ReversalReason; ttlMs: number }
>(async ({ input }) => {
  input.outbox.drop(input.paymentRequestId);
  return sealReversal(input.sources, input.identity, input);
});

export const sendRequest = fromPromise<Decision, { outbox: Outbox; request: SealedRequest }>(async ({ input }) =>
  input.outbox.send(input.request),
);

export const awaitDecision = fromPromise<Decision, { settlement: SettlementPort; requestId: string; timeoutMs: number }>(
  async ({ input, signal }) => input.settlement.awaitDecision(input.requestId, input.timeoutMs, signal),
);
