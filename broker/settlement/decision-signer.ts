import { createPublicKey, type KeyObject } from "node:crypto";
import { assert } from "../../core/assert.ts";
import { logger } from "../../core/log.ts";
import { errorCodeName } from "../../protocol/errors.ts";
import { sealMessage } from "../../protocol/envelope.ts";
import { keyId } from "../../protocol/keys.ts";
import { decisionSchema, protocolVersion, type Decision } from "../../protocol/messages.ts";
import type { RequestSummary, SignedDecision, Verdict } from "../decisions/verdicts.ts";
import type { DecisionObserver } from "./options.ts";

const log = logger("tapwire:decisions");

/** Signs decisions with the service key; every decision carries `exp = iat + decisionTtlMs`. */
export class DecisionSigner {
  private readonly kid: Uint8Array;

  constructor(
    private readonly serviceKey: KeyObject,
    private readonly decisionTtlMs: number,
    private readonly observer?: DecisionObserver,
  ) {
    this.kid = keyId(createPublicKey(serviceKey));
  }

  sign(summary: RequestSummary, verdict: Verdict, nowMs: number): SignedDecision {
    const expMs = nowMs + this.decisionTtlMs;
    const body: Decision = {
      type: "decision",
      v: protocolVersion,
      requestId: summary.requestId,
      requestType: summary.requestType,
      requestHash: new Uint8Array(summary.requestHash),
      principalKind: summary.principalKind,
      hubId: summary.hubId,
      status: verdict.status,
      code: verdict.code,
      reason: verdict.reason,
      iat: nowMs,
      exp: expMs,
      ...(verdict.receipt ? { receipt: verdict.receipt } : {}),
      ...(verdict.batch ? { batch: verdict.batch } : {}),
      ...(verdict.caseId ? { caseId: verdict.caseId } : {}),
      ...(verdict.retryAfterMs === undefined ? {} : { retryAfterMs: verdict.retryAfterMs }),
      ...(verdict.fx ? { fx: verdict.fx } : {}),
    };
    // Paired with the hub's parse on receipt: a decision we could not read back is a bug here, not there.
    const check = decisionSchema.safeParse(body);
    assert(check.success, `decision fails its own schema: ${check.error?.message ?? ""}`);
    // Every decision the service gives passes here once: at TAPWIRE_LOG=info, one line each (`tapwire settle`).
    if (log.isLevelEnabled("info")) {
      const { requestId, requestType, principalKind, hubId, status, code, reason } = body;
      log.info({ requestId, requestType, principal: `${principalKind}s/${hubId}`, status, code, codeName: code === 0 ? undefined : errorCodeName(code), reason }, "decision");
    }
    const bytes = sealMessage(body, this.serviceKey, this.kid);
    this.observer?.({ status: verdict.status, code: verdict.code });
    return { bytes, expMs };
  }
}
