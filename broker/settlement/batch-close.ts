import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { BatchClose } from "../../protocol/messages.ts";
import { approvedVerdict, type Verdict } from "../decisions/verdicts.ts";
import type { Hub } from "../registry/principals.ts";
import type { SettlementStore } from "./settlement-store.ts";

/**
 * A hub closes its batch with its own count and total of the payments since the last one: matched, the payments
 * are assigned to the batch; not matched, the report is kept and the decision asks for a person to look.
 */
export function closeBatch(store: SettlementStore, hub: Hub, request: BatchClose, nowMs: number): Verdict {
  if (store.findBatch(hub.hubId, request.batchId)?.matched) {
    throw new TapwireError(`batch ${request.batchId} is already closed`, ErrorCode.BatchAlreadyClosed, { batchId: request.batchId });
  }
  const service = store.unbatchedTotals(hub.hubId, hub.merchantId, request.currency);
  const matched = service.count === request.count && service.totalMinor === request.totalMinor;
  const batch = {
    batchId: request.batchId,
    currency: request.currency,
    hubCount: request.count,
    hubTotalMinor: request.totalMinor,
    serviceCount: service.count,
    serviceTotalMinor: service.totalMinor,
    matched,
  };
  store.saveBatch({ ...batch, hubId: hub.hubId, merchantId: hub.merchantId, requestId: request.requestId, closedAtMs: nowMs });
  if (matched) {
    store.assignBatch(hub.hubId, hub.merchantId, request.currency, request.batchId);
    return approvedVerdict({ batch });
  }
  return {
    status: "human_review",
    code: ErrorCode.BatchMismatch,
    reason: `hub counts ${request.count}/${request.totalMinor}, service ${service.count}/${service.totalMinor}`,
    batch,
    caseId: request.batchId,
  };
}
