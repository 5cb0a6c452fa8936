import { z } from "zod";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { idSchema } from "../protocol/ids.ts";
import type { OperatorAction } from "../protocol/review.ts";

/** What an operator may do from the console, and nothing else: the service's own operator actions. */
export const consoleActionSchema = z.discriminatedUnion("action", [
  z.object({ action: z.enum(["approve", "decline"]), caseId: idSchema }).strict(),
  z.object({ action: z.literal("resolve"), caseId: idSchema, favour: z.enum(["payer", "merchant"]) }).strict(),
  z.object({ action: z.literal("revoke-hub"), hubId: idSchema }).strict(),
]);
export type ConsoleAction = z.infer<typeof consoleActionSchema>;

/** The settlement side the console acts through (SettlementService): each action is recorded in the evidence chain. */
export interface OperatorDesk {
  decideReview(caseId: string, action: OperatorAction, operatorId: string): unknown;
  revokeHubAs(hubId: string, operatorId: string): void;
}

export function parseConsoleAction(body: unknown): ConsoleAction {
  const parsed = consoleActionSchema.safeParse(body);
  if (!parsed.success) throw new TapwireError(`not a console action: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, ErrorCode.SchemaInvalid);
  return parsed.data;
}

/** Does it as `operatorId`; a refusal (already decided, unknown case or hub) is a TapwireError with its code. */
export function performConsoleAction(desk: OperatorDesk, action: ConsoleAction, operatorId: string): string {
  switch (action.action) {
    case "approve":
    case "decline":
      desk.decideReview(action.caseId, action.action, operatorId);
      return `case ${action.caseId}: ${action.action}d by operators/${operatorId}`;
    case "resolve":
      desk.decideReview(action.caseId, action.favour === "payer" ? "approve" : "decline", operatorId);
      return `dispute ${action.caseId}: resolved for the ${action.favour} by operators/${operatorId}`;
    case "revoke-hub":
      desk.revokeHubAs(action.hubId, operatorId);
      return `hub ${action.hubId}: revoked by operators/${operatorId}`;
  }
}
