import { z } from "zod";
import { idSchema } from "./ids.ts";
import { protocolVersion } from "./messages.ts";

/**
 * Human in the loop. A decision `step_up_required` or `human_review` carries a `caseId`. The person answers a
 * step-up with a signed `step_up_approval` (from the wallet, below, or from a glasses hub with a fresh
 * biometric assertion: see `hubStepUpApprovalSchema` in messages.ts); an operator answers a review. The final
 * decision answers the original request (same requestId, requestHash and caseId) and is pushed to its sender.
 */
export const stepUpAnswers = ["approve", "deny"] as const;
/** The person's answer to a held payment. */
export type StepUpAnswer = (typeof stepUpAnswers)[number];

const timestampMs = z.number().int().min(0);

/** The person's answer from their phone: signed by the wallet key. */
export const walletStepUpApprovalSchema = z.object({
  type: z.literal("step_up_approval"),
  v: z.literal(protocolVersion),
  walletId: idSchema,
  requestId: idSchema,
  caseId: idSchema,
  answer: z.enum(stepUpAnswers),
  iat: timestampMs,
  exp: timestampMs,
});
export type WalletStepUpApproval = z.infer<typeof walletStepUpApprovalSchema>;

/** The payer contests a payment (`paymentId` from its receipt); only an operator can close the case. */
export const disputeOpenSchema = z.object({
  type: z.literal("dispute_open"),
  v: z.literal(protocolVersion),
  walletId: idSchema,
  requestId: idSchema,
  paymentId: idSchema,
  reason: z.string().min(1).max(200),
  iat: timestampMs,
  exp: timestampMs,
});
export type DisputeOpen = z.infer<typeof disputeOpenSchema>;

export const caseKinds = ["step_up", "human_review", "dispute"] as const;
export type CaseKind = (typeof caseKinds)[number];

export const caseStatuses = ["pending", "approved", "declined", "expired"] as const;
export type CaseStatus = (typeof caseStatuses)[number];

/** What an operator may do with a pending case: approve posts the held payment (or the dispute refund). */
export const operatorActions = ["approve", "decline"] as const;
export type OperatorAction = (typeof operatorActions)[number];
