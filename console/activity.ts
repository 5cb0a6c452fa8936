import { decodeBody } from "../protocol/cbor.ts";
import { decodeSign1 } from "../protocol/cose.ts";
import { errorCodeName, isTapwireError } from "../protocol/errors.ts";
import { decisionSchema, type Decision } from "../protocol/messages.ts";
import { formatMoney, isCurrency } from "../protocol/money.ts";
import { readableBody } from "../broker/evidence/sealed-form.ts";
import type { ActivityView, OperatorActionView } from "./snapshot.ts";

/** An evidence row as the dashboard reads it: the signed bytes exactly as received or sent. */
export interface EvidenceEntry {
  seq: number;
  kind: string;
  principal: string;
  requestId: string;
  bytes: Uint8Array;
  recordedAtMs: number;
}

interface RequestFacts {
  mode: string | undefined;
  amountMinor: number | undefined;
  currency: string | undefined;
}

/**
 * Turns evidence rows (newest first) into the decisions they record, newest first, at most `shownMax`. The
 * amount and mode come from the request recorded beside the decision (also for a decline, whose decision has
 * no receipt), else from the receipt. The rows were written by the service itself, so they are decoded
 * without checking signatures again; a row that does not decode is left out rather than failing the page.
 */
export function activityFromEvidence(rows: readonly EvidenceEntry[], shownMax: number): ActivityView[] {
  const requests = new Map<string, RequestFacts>();
  for (const row of rows) {
    if (row.kind !== "request") continue;
    const facts = readRequest(row.bytes);
    if (facts) requests.set(keyOf(row.principal, row.requestId), facts);
  }
  const activity: ActivityView[] = [];
  for (const row of rows) {
    if (activity.length >= shownMax) break;
    if (row.kind !== "decision") continue;
    const decision = readDecision(row.bytes);
    if (!decision) continue;
    const facts = requests.get(keyOf(row.principal, row.requestId)) ?? factsOfReceipt(decision);
    activity.push(toView(row, decision, facts));
  }
  return activity;
}

function keyOf(principal: string, requestId: string): string {
  return `${principal}\n${requestId}`;
}

function toView(row: EvidenceEntry, decision: Decision, facts: RequestFacts): ActivityView {
  const { amountMinor, currency } = facts;
  return {
    seq: row.seq,
    atMs: row.recordedAtMs,
    principal: row.principal,
    hubId: decision.hubId,
    requestId: decision.requestId,
    requestType: decision.requestType,
    mode: facts.mode,
    amountMinor,
    currency,
    amount: amountMinor !== undefined && currency !== undefined ? formatMoney({ amountMinor, currency }) : undefined,
    status: decision.status,
    code: decision.code,
    codeName: decision.code === 0 ? undefined : errorCodeName(decision.code),
    reason: decision.reason,
    caseId: decision.caseId,
  };
}

function factsOfReceipt(decision: Decision): RequestFacts {
  const receipt = decision.receipt;
  return { mode: undefined, amountMinor: receipt?.amountMinor, currency: receipt?.currency };
}

function readDecision(bytes: Uint8Array): Decision | undefined {
  const body = decodeSigned(bytes);
  const parsed = decisionSchema.safeParse(body);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Picks what a person wants to see from any request type: a hub's payment or refund carries amount and
 * currency; a wallet's tag-mode payment carries the hub's signed offer, which does.
 */
function readRequest(bytes: Uint8Array): RequestFacts | undefined {
  // A request with personal fields is stored sealed; its amount, currency and mode stay readable beside it.
  const body = readableBody(bytes);
  if (!isRecord(body)) return undefined;
  if (body.type === "wallet_tag_payment" && body.offer instanceof Uint8Array) {
    const offer = decodeSigned(body.offer);
    return isRecord(offer) ? { ...moneyOf(offer), mode: "tag" } : undefined;
  }
  return { ...moneyOf(body), mode: typeof body.mode === "string" ? body.mode : undefined };
}

function moneyOf(body: Record<string, unknown>): Omit<RequestFacts, "mode"> {
  const { amountMinor, currency } = body;
  const valid = typeof amountMinor === "number" && Number.isSafeInteger(amountMinor) && typeof currency === "string" && isCurrency(currency);
  return valid ? { amountMinor, currency } : { amountMinor: undefined, currency: undefined };
}

function decodeSigned(bytes: Uint8Array): unknown {
  try {
    return decodeBody(decodeSign1(bytes).payload);
  } catch (error) {
    if (isTapwireError(error)) return undefined;
    throw error;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Operator actions in the evidence chain (approvals, declines, revocations), newest first, at most `shownMax`. */
export function operatorActionsFromEvidence(rows: readonly EvidenceEntry[], shownMax: number): OperatorActionView[] {
  const actions: OperatorActionView[] = [];
  for (const row of rows) {
    if (actions.length >= shownMax) break;
    if (row.kind !== "operator") continue;
    const body = readOperatorBody(row.bytes);
    if (body === undefined) continue;
    const what = typeof body["action"] === "string" ? `${body["action"]} case ${String(body["caseId"])}` : `revoke ${String(body["subject"])}`;
    actions.push({ seq: row.seq, atMs: row.recordedAtMs, operator: row.principal, what, requestId: row.requestId });
  }
  return actions;
}

function readOperatorBody(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const body = decodeBody(bytes);
    return typeof body === "object" && body !== null ? (body as Record<string, unknown>) : undefined;
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return undefined;
  }
}
