import { oneOfFlag, requireFlag } from "./args.ts";
import { caseListCommand, decideCase } from "./review.ts";

export const disputeUsage = `tapwire dispute list [--data-dir .tapwire]
  example: tapwire dispute list --data-dir .tapwire
tapwire dispute resolve CASE --favour payer|merchant [--operator NAME] [--data-dir .tapwire]
  In favour of the payer refunds what is left of the payment, once.
  example: tapwire dispute resolve dispute-1 --favour payer --operator alice`;

export const disputeListCommand = caseListCommand("dispute");

export const disputeResolveCommand = (argv: string[]) =>
  decideCase(argv, (values) => (oneOfFlag(requireFlag(values["favour"], "favour"), ["payer", "merchant"] as const, "favour") === "payer" ? "approve" : "decline"));
