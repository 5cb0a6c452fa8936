import type { Clock } from "../../core/sources.ts";
import { verifySign1 } from "../../protocol/cose.ts";
import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import { hubRequestSchema, parseBody, type PaymentRequest } from "../../protocol/messages.ts";
import { verifyCryptogram } from "../../protocol/payer.ts";
import { authorizationIdFor } from "../../protocol/provider.ts";
import type { Inbound } from "../decisions/verdicts.ts";
import { UnverifiedReading } from "../decisions/unverified-reading.ts";
import type { FxDesk } from "../fx/fx-desk.ts";
import type { Hub } from "../registry/principals.ts";
import type { Registry } from "../registry/registry.ts";
import type { ProviderGateway, ProviderOutcome } from "./provider-gateway.ts";
import type { ProviderRegistry } from "./provider-registry.ts";

/** Give-back notices one flush sends at most; the rest go after the next batch. */
export const noticesPerFlushMax = 100;
/**
 * How long a flush trusts that nothing is left to send when this service wrote no notice since it last looked and
 * sent all it found: notices another process wrote (a settlement worker that stopped before sending its own) go out
 * after the first batch past it. Looking after every batch cost a read of its own (~25 µs here), which at a low rate
 * is paid by one or two payments.
 */
export const noticesRecheckMs = 1_000;

export interface ProviderStageDeps {
  registry: Registry;
  providers: ProviderRegistry;
  /** Whether the hub's request has a stored decision already (its retry is answered from it, asking nobody). */
  decided: (hubId: string, requestId: string) => boolean;
  fx: FxDesk;
  gateway: ProviderGateway;
  clock: Clock;
}

/**
 * The provider round trip, before the batch: the batch is one synchronous SQLite transaction (group commit) and
 * cannot wait on a network. While a hub's payment waits in the batcher's queue, this asks the paying wallet's
 * provider (with the quote locked now, when the merchant is paid in another currency) and the batch then posts
 * with the provider's signed answer, or declines with the typed reason it gives.
 *
 * Only a request worth asking about is asked: a payment request from an active hub, signed by it, whose hce
 * cryptogram verifies with the key of a wallet a provider holds, not answered already. Anything else goes through
 * the batch as always (which refuses it for whatever is wrong). Reads only; the batch re-checks everything it posts on.
 */
export class ProviderStage {
  /** What the last flush knew: the registry's count of notices written then, when it looked, whether any were left. */
  private noticesAddedSeen = -1;
  private lookedAtMs = 0;
  private unsentLeft = true;

  constructor(private readonly deps: ProviderStageDeps) {}

  /** `reading` is the message's one decoding on the main thread, shared with the precheck job and admission. */
  prepare(inbound: Inbound, reading = new UnverifiedReading(inbound.payload)): Promise<ProviderOutcome> | undefined {
    if (inbound.kind !== "hub") return undefined;
    const asked = this.askable(inbound, reading);
    if (asked === undefined) return undefined;
    try {
      return this.ask(asked.hub, asked.request, asked.providerId);
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      return Promise.resolve({ ok: false, error });
    }
  }

  /**
   * After the batch committed: an approval that was not posted (the batch declined the payment) is released at the
   * provider. `reason` is what the provider is told.
   */
  settled(outcome: ProviderOutcome, reason: string): void {
    if (!outcome.ok || this.deps.providers.isPosted(outcome.authorizationId)) return;
    this.deps.gateway.release(outcome, reason);
  }

  /**
   * After a batch committed: the give-back notices it (or an earlier batch whose notices could not go out) left,
   * at most noticesPerFlushMax, each marked sent once handed to the link. Looks only when this service wrote one
   * since, left some last time, or last looked noticesRecheckMs ago.
   */
  flushNotices(): void {
    const { providers, gateway, clock } = this.deps;
    const nowMs = clock.nowMs();
    const sinceLookedMs = nowMs - this.lookedAtMs;
    // A clock set back counts as time to look again.
    if (!this.unsentLeft && providers.noticesAdded === this.noticesAddedSeen && sinceLookedMs >= 0 && sinceLookedMs < noticesRecheckMs) return;
    this.noticesAddedSeen = providers.noticesAdded;
    this.lookedAtMs = nowMs;
    const notices = providers.unsentNotices(noticesPerFlushMax);
    this.unsentLeft = notices.length === noticesPerFlushMax;
    for (const notice of notices) {
      if (!gateway.notify(notice)) {
        this.unsentLeft = true;
        return;
      }
      providers.markNoticeSent(notice.noticeId, clock.nowMs());
    }
  }

  /** The payment and its wallet's provider, when the request is one to ask a provider about. */
  private askable(inbound: Inbound, reading: UnverifiedReading): { hub: Hub; request: PaymentRequest; providerId: string } | undefined {
    const { registry, providers, decided } = this.deps;
    try {
      // Most payments are in-house wallets': told apart from the unverified body, before any signature is checked
      // here on the main thread (the batch verifies every payment anyway, on the verify workers).
      const walletId = unverifiedHceWallet(reading);
      if (walletId === undefined || providers.providerOf(walletId) === undefined) return undefined;
      const hub = registry.findHub(inbound.id);
      if (hub?.status !== "active") return undefined;
      verifySign1(reading.envelope(), registry.hubPublicKey(hub));
      const request = parseBody(hubRequestSchema, reading.body());
      if (request.type !== "payment_request" || request.payer.kind !== "hce" || request.hubId !== hub.hubId) return undefined;
      const providerId = providers.providerOf(request.payer.walletId);
      if (providerId === undefined || decided(hub.hubId, request.requestId)) return undefined;
      const wallet = registry.getActiveWallet(request.payer.walletId);
      const { payer } = request;
      verifyCryptogram(
        { walletId: wallet.walletId, hubId: hub.hubId, amountMinor: request.amountMinor, currency: request.currency, unpredictableNumber: payer.unpredictableNumber, atc: payer.atc },
        payer.cryptogram,
        registry.walletPublicKey(wallet),
      );
      return { hub, request, providerId };
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      return undefined;
    }
  }

  private ask(hub: Hub, request: PaymentRequest, providerId: string): Promise<ProviderOutcome> {
    const { registry, providers, fx, gateway, clock } = this.deps;
    const provider = providers.getActive(providerId);
    const merchant = registry.getMerchant(hub.merchantId);
    const converted = provider.currency !== request.currency;
    const quote = converted ? fx.quote(`${hub.hubId}/${request.requestId}`, request.amountMinor, merchant.currency, provider.currency, clock.nowMs()) : undefined;
    const amountMinor = quote?.payerAmountMinor ?? request.amountMinor;
    // The batch checks it again; checked here too, so a provider is never asked for what would then be refused.
    const wallet = registry.getActiveWallet(request.payer.walletId);
    if (amountMinor > wallet.perPaymentMaxMinor) {
      throw new TapwireError(`amount ${amountMinor} above per-payment limit ${wallet.perPaymentMaxMinor}`, ErrorCode.LimitExceeded, { walletId: wallet.walletId });
    }
    return gateway.authorize({
      authorizationId: authorizationIdFor(hub.hubId, request.requestId),
      providerId,
      walletId: request.payer.walletId,
      merchantId: merchant.merchantId,
      hubId: hub.hubId,
      amountMinor,
      currency: provider.currency,
      ...(quote ? { fx: quote } : {}),
    });
  }
}

/** The wallet an hce payer names in a hub request, read without checking anything; undefined for anything else. */
function unverifiedHceWallet(reading: UnverifiedReading): string | undefined {
  const body = reading.body();
  const payer = typeof body === "object" && body !== null ? (body as Record<string, unknown>)["payer"] : undefined;
  if (typeof payer !== "object" || payer === null) return undefined;
  const { kind, walletId } = payer as Record<string, unknown>;
  return kind === "hce" && typeof walletId === "string" ? walletId : undefined;
}
