import { ErrorCode } from "../../protocol/errors.ts";
import type { Decision } from "../../protocol/messages.ts";
import type { JournalRequest, SaleOutcome } from "../journal/hub-journal.ts";

/**
 * What one decision means for the request it answers, whatever kind it is:
 * - `final`: the service decided and stored the answer (approved, or declined for a reason that a resend of the
 *   same bytes gets again);
 * - `not_processed`: refused at the gate for good without being executed: the bytes expired (`exp` passed, and
 *   time only moves on) or their seq was overtaken (seqs only grow). Nothing was charged and nothing ever will be
 *   for these bytes; a request that must still reach the service needs a new envelope;
 * - `retry`: refused for now (overloaded, storage, not yet valid): the same bytes may still be decided later;
 * - `held`: waiting for a person (step-up) or an operator (review); the final answer follows as its own decision.
 */
export type AnswerClass = "final" | "not_processed" | "retry" | "held";

const notProcessedCodes = new Set<number>([ErrorCode.MessageExpired, ErrorCode.SeqReplayed]);
const retryCodes = new Set<number>([
  ErrorCode.Overloaded,
  ErrorCode.ServiceUnavailable,
  ErrorCode.LedgerStorage,
  ErrorCode.MessageNotYetValid,
  ErrorCode.InflightFull,
]);

export function classifyAnswer(decision: Decision): AnswerClass {
  if (decision.status === "approved") return "final";
  if (decision.status === "step_up_required" || decision.status === "human_review") return "held";
  if (notProcessedCodes.has(decision.code)) return "not_processed";
  if (retryCodes.has(decision.code)) return "retry";
  return "final";
}

/** A reversal that finds its payment already reversed or voided has done its job. */
export function reversalTookEffect(decision: Decision): boolean {
  return decision.status === "approved" || decision.code === ErrorCode.AlreadyReversed;
}

/** What a stored answer to an open request means for its sale, if it decides it. */
export function saleOutcomeOf(request: JournalRequest, decision: Decision): { outcome: SaleOutcome; code: number } | undefined {
  const approved = decision.status === "approved";
  switch (request.kind) {
    case "payment":
    case "offer":
      return { outcome: approved ? "approved" : "declined", code: decision.code };
    case "step_up":
      return approved ? { outcome: "approved", code: 0 } : undefined;
    case "capture":
      return { outcome: "approved_offline", code: decision.code };
    case "reversal":
      return reversalTookEffect(decision) ? { outcome: "reversed", code: 0 } : { outcome: "reversal_refused", code: decision.code };
    case "status":
      if (approved) return { outcome: "approved", code: 0 };
      if (decision.code === ErrorCode.AlreadyReversed) return { outcome: "reversed", code: 0 };
      return undefined;
  }
}
