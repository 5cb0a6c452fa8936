import { dataDirFlag, withAdmin } from "./admin.ts";
import { parseFlags, requireFlag } from "./args.ts";

export const revokeUsage = `tapwire wallet revoke --wallet-id W [--data-dir .tapwire]
  The wallet pays no more (E202 Revoked on every payment; refunds to it still land) and the broker refuses its
  connection.
  example: tapwire wallet revoke --wallet-id w1 --data-dir .tapwire
tapwire agent revoke --agent-id A [--data-dir .tapwire]
  The agent's requests are refused and the broker refuses its connection.
  example: tapwire agent revoke --agent-id a1 --data-dir .tapwire`;

export async function walletRevokeCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "wallet-id": { type: "string" } });
  const walletId = requireFlag(values["wallet-id"], "wallet-id");
  await withAdmin(values["data-dir"], (service) => service.registry.revokeWallet(walletId));
  process.stdout.write(`wallet ${walletId} revoked\n`);
  return 0;
}

export async function agentRevokeCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "agent-id": { type: "string" } });
  const agentId = requireFlag(values["agent-id"], "agent-id");
  await withAdmin(values["data-dir"], (service) => service.registry.revokeAgent(agentId));
  process.stdout.write(`agent ${agentId} revoked\n`);
  return 0;
}
