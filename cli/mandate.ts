import { openSealed } from "../protocol/envelope.ts";
import { TapwireError, type ErrorCode } from "../protocol/errors.ts";
import { decisionSchema } from "../protocol/messages.ts";
import { dataDirFlag, serviceKeyOf, withAdmin } from "./admin.ts";
import { parseFlags, readFlagFile, requireFlag } from "./args.ts";

export const mandateUsage = `tapwire mandate register --wallet-id W --file mandate.cose [--data-dir .tapwire]
  Registers an open mandate the wallet signed (COSE_Sign1 bytes), as if the wallet had sent it.
  example: tapwire mandate register --wallet-id w1 --file mandate.cose`;

export async function mandateRegisterCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "wallet-id": { type: "string" }, file: { type: "string" } });
  const walletId = requireFlag(values["wallet-id"], "wallet-id");
  const payload = await readFlagFile(requireFlag(values.file, "file"), "file");
  const answers = await withAdmin(values["data-dir"], (service) => service.handle({ kind: "wallet", id: walletId, payload }));
  const decision = openSealed(answers[0]!.payload, await serviceKeyOf(values["data-dir"]), decisionSchema).body;
  if (decision.status !== "approved") {
    throw new TapwireError(`mandate refused: ${decision.reason}`, decision.code as ErrorCode);
  }
  process.stdout.write(`mandate ${decision.requestId} registered for wallet ${walletId}\n`);
  return 0;
}
