import { join } from "node:path";
import { enrollAgent } from "../broker/enrolment.ts";
import { dataDirFlag, enrolmentContext, makeBundleDir, withAdmin, writeBundle } from "./admin.ts";
import { parseFlags, readFlagFile, requireFlag } from "./args.ts";

export const agentUsage = `tapwire agent enroll --agent-id A [--public-key agent.pub.pem] [--out DIR] [--data-dir .tapwire]
  example: tapwire agent enroll --agent-id a1`;

export async function agentEnrollCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "agent-id": { type: "string" }, "public-key": { type: "string" }, out: { type: "string" } });
  const agentId = requireFlag(values["agent-id"], "agent-id");
  const outDir = values.out ?? join(values["data-dir"], "agents", agentId);
  const publicKeyPem = values["public-key"] ? (await readFlagFile(values["public-key"], "public-key")).toString("utf8") : undefined;
  const bundle = await withAdmin(
    values["data-dir"],
    (service, pki) => {
      makeBundleDir(outDir);
      return enrollAgent(enrolmentContext(service, pki), service.agents, { agentId, ...(publicKeyPem ? { publicKeyPem } : {}) });
    },
    "create",
  );
  await writeBundle(outDir, bundle);
  process.stdout.write(`agent ${agentId} enrolled; credentials in ${outDir}\n`);
  return 0;
}
