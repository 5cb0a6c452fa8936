import { contract, type OfflineLimits } from "../../protocol/contract.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { OfflineCapture } from "../../protocol/messages.ts";
import { decide, type Verdict } from "../decisions/verdicts.ts";
import type { Hub, Merchant } from "../registry/principals.ts";
import type { Registry } from "../registry/registry.ts";
import type { Captures } from "./captures.ts";
import type { OfflineStore } from "./offline-store.ts";
import { verifyHce } from "./payer-verifier.ts";
import type { SignatureChecks } from "./prechecks.ts";
import type { SqlDb } from "../../core/sql-db.ts";

export interface OfflineCaptureDeps {
  db: SqlDb;
  registry: Registry;
  offline: OfflineStore;
  clockSkewMs: number;
  /** What every payment goes through: voided, wallet and merchant currency, per-payment limit, funds, then the posting. */
  captures: Captures;
}

const limitNames = ["saleMaxMinor", "totalMaxMinor", "countMax", "ageMsMax"] as const satisfies ReadonlyArray<keyof OfflineLimits>;

function exceeded(message: string, hub: Hub, request: OfflineCapture): TapwireError {
  return new TapwireError(message, ErrorCode.OfflineLimitExceeded, { hubId: hub.hubId, requestId: request.requestId });
}

/**
 * Store and forward, settled inside the batch transaction after the usual gates. The cryptogram is checked as
 * for a reader payment (its ATC need only be unused: the phone may have paid online since), then the sale
 * against the merchant's record — the hub's own word on its limits and backlog is checked, never trusted —
 * and the service's own records of the hub's earlier captures, then as any payment. A decline is the
 * request's stored decision and, in the same transaction, the merchant's recorded loss.
 */
export class OfflineCaptures {
  constructor(private readonly deps: OfflineCaptureDeps) {}

  settle(hub: Hub, request: OfflineCapture, checks: SignatureChecks, nowMs: number): Verdict {
    const verdict = decide(() => this.capture(hub, request, checks, nowMs));
    if (verdict.status !== "approved") {
      this.deps.offline.recordLoss({
        hubId: hub.hubId,
        requestId: request.requestId,
        merchantId: hub.merchantId,
        walletId: request.payer.walletId,
        amountMinor: request.amountMinor,
        currency: request.currency,
        code: verdict.code,
        reason: verdict.reason,
        capturedAtMs: request.capturedAt,
        recordedAtMs: nowMs,
      });
    }
    return verdict;
  }

  private capture(hub: Hub, request: OfflineCapture, checks: SignatureChecks, nowMs: number): Verdict {
    const { registry, db, offline } = this.deps;
    this.deps.captures.refuseVoided(hub.hubId, request.requestId);
    const wallet = verifyHce(request.payer, request, { registry, db, hub, nowMs, checks }, "unused");
    if (wallet.currency !== request.currency) {
      // The rate at the sale is not known here: offline sales are in the wallet's own currency only.
      throw new TapwireError(`wallet holds ${wallet.currency}, offline sale is in ${request.currency}`, ErrorCode.CurrencyMismatch, { walletId: wallet.walletId });
    }
    this.checkFloor(hub, registry.getMerchant(hub.merchantId), request, nowMs);
    const { requestId, amountMinor, currency, capturedAt } = request;
    const verdict = this.deps.captures.charge({ hub, requestId, wallet, amountMinor, currency, mode: "offline" }, nowMs);
    offline.recordCapture({ hubId: hub.hubId, requestId, amountMinor, capturedAtMs: capturedAt, forwardedAtMs: nowMs });
    return verdict;
  }

  private checkFloor(hub: Hub, merchant: Merchant, request: OfflineCapture, nowMs: number): void {
    const limits = merchant.offlineLimits;
    if (!limits) {
      throw new TapwireError(`merchant ${merchant.merchantId} accepts no offline sales`, ErrorCode.OfflineNotAllowed, { merchantId: merchant.merchantId });
    }
    for (const name of limitNames) {
      if (request.limits[name] > limits[name]) throw exceeded(`hub applied ${name} ${request.limits[name]}, the merchant's is ${limits[name]}`, hub, request);
    }
    const { amountMinor, capturedAt, backlog } = request;
    if (capturedAt > request.iat + this.deps.clockSkewMs) {
      throw new TapwireError(`captured at ${capturedAt}, after the forward was made at ${request.iat}`, ErrorCode.MessageNotYetValid);
    }
    // A backlog that does not hold this sale would let the age and total checks below pass on any numbers.
    if (backlog.totalMinor < amountMinor || backlog.oldestCapturedAt > capturedAt) {
      throw new TapwireError(`backlog (total ${backlog.totalMinor}, oldest ${backlog.oldestCapturedAt}) does not include this sale`, ErrorCode.SchemaInvalid);
    }
    if (amountMinor > limits.saleMaxMinor) throw exceeded(`amount ${amountMinor} above the sale limit ${limits.saleMaxMinor}`, hub, request);
    if (backlog.position > limits.countMax) throw exceeded(`backlog position ${backlog.position} above the count limit ${limits.countMax}`, hub, request);
    if (backlog.totalMinor > limits.totalMaxMinor) throw exceeded(`backlog total ${backlog.totalMinor} above the limit ${limits.totalMaxMinor}`, hub, request);
    if (capturedAt - backlog.oldestCapturedAt > limits.ageMsMax) {
      throw exceeded(`oldest unforwarded capture ${capturedAt - backlog.oldestCapturedAt} ms older than this one, limit ${limits.ageMsMax} ms`, hub, request);
    }
    if (nowMs - capturedAt > contract.offlineCaptureAgeMsMax) {
      throw exceeded(`captured ${nowMs - capturedAt} ms ago, above the contract's ${contract.offlineCaptureAgeMsMax} ms`, hub, request);
    }
    this.checkWindow(hub, limits, request);
  }

  /** The service's own count of the hub's offline sales within ageMsMax before this one, whatever the hub says. */
  private checkWindow(hub: Hub, limits: OfflineLimits, request: OfflineCapture): void {
    const earlier = this.deps.offline.window(hub.hubId, request.capturedAt - limits.ageMsMax, request.capturedAt, limits.countMax);
    if (earlier.count + 1 > limits.countMax) {
      throw exceeded(`${earlier.count} offline captures of this hub within ${limits.ageMsMax} ms before this one, limit ${limits.countMax}`, hub, request);
    }
    if (earlier.totalMinor + request.amountMinor > limits.totalMaxMinor) {
      throw exceeded(`offline captures within ${limits.ageMsMax} ms total ${earlier.totalMinor + request.amountMinor}, limit ${limits.totalMaxMinor}`, hub, request);
    }
  }
}
