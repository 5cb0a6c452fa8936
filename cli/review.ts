import type { ReviewCase } from "../broker/review/review-store.ts";
import { openSealed } from "../protocol/envelope.ts";
import { ErrorCode, TapwireError, errorCodeName } from "../protocol/errors.ts";
import { decisionSchema } from "../protocol/messages.ts";
import { caseKinds, caseStatuses, type CaseKind, type CaseStatus, type OperatorAction } from "../protocol/review.ts";
import { dataDirFlag, serviceKeyOf, withAdmin } from "./admin.ts";
import { oneOfFlag, parseFlags, requireFlag } from "./args.ts";

export const reviewUsage = `tapwire review list [--status pending|approved|declined|expired] [--kind step_up|human_review|dispute] [--data-dir .tapwire]
  example: tapwire review list --status pending
tapwire review show CASE [--data-dir .tapwire]
  A case with everything the operator decides on: utterance, product, mandate, risk signals, amount.
  example: tapwire review show review-1
tapwire review approve|decline CASE [--operator NAME] [--data-dir .tapwire]
  Applies once (E908 ReviewAlreadyDecided after that). The running node publishes the signed decision.
  example: tapwire review approve review-1 --operator alice`;

function caseLine(c: ReviewCase): string {
  const amount = c.context["amount"] ?? "";
  return [c.caseId, c.kind, c.status, `${c.requesterKind}s/${c.requesterId}`, c.requestId, amount, c.reason].join("\t");
}

/** Lists the review queue, one case a line; `kind` fixes the kind (disputes), else --kind may filter. */
export function caseListCommand(kind: CaseKind | undefined) {
  return async (argv: string[]): Promise<number> => {
    const { values } = parseFlags(argv, { ...dataDirFlag, status: { type: "string" }, kind: { type: "string" } });
    const status = oneOfFlag<CaseStatus>(values.status, caseStatuses, "status");
    const filterKind = kind ?? oneOfFlag<CaseKind>(values.kind, caseKinds, "kind");
    const cases = await withAdmin(values["data-dir"], (service) =>
      service.listReviews({ ...(status ? { status } : {}), ...(filterKind ? { kind: filterKind } : {}) }),
    );
    for (const c of cases) process.stdout.write(`${caseLine(c)}\n`);
    return 0;
  };
}

/** Applies an operator's answer to the case named by the first positional and reports each signed decision. */
export async function decideCase(argv: string[], action: (values: Record<string, string | undefined>) => OperatorAction): Promise<number> {
  const { values, positionals } = parseFlags(argv, { ...dataDirFlag, operator: { type: "string", default: process.env["USER"] ?? "operator" }, favour: { type: "string" } });
  const caseId = requireFlag(positionals[0], "case (positional)");
  const chosen = action(values);
  const pushes = await withAdmin(values["data-dir"], (service) => service.decideReview(caseId, chosen, values.operator));
  const key = await serviceKeyOf(values["data-dir"]);
  for (const push of pushes) {
    const decision = openSealed(push.payload, key, decisionSchema).body;
    const outcome = decision.status === "approved" ? "approved" : `${decision.status} (E${decision.code} ${errorCodeName(decision.code)})`;
    process.stdout.write(`${caseId}: ${outcome}; decision for ${push.kind}s/${push.id} queued for publishing\n`);
  }
  return 0;
}

export const reviewListCommand = caseListCommand(undefined);

export async function reviewShowCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, dataDirFlag);
  const caseId = requireFlag(positionals[0], "case (positional)");
  const found = await withAdmin(values["data-dir"], (service) => service.findReview(caseId));
  if (!found) throw new TapwireError(`no case ${caseId}`, ErrorCode.ReviewNotFound);
  const shown = { ...found, requestHash: Buffer.from(found.requestHash).toString("hex") };
  process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
  return 0;
}

export const reviewApproveCommand = (argv: string[]) => decideCase(argv, () => "approve");
export const reviewDeclineCommand = (argv: string[]) => decideCase(argv, () => "decline");
