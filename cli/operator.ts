import { enrollOperator } from "../broker/enrolment.ts";
import { dataDirFlag, enrolmentContext, withAdmin } from "./admin.ts";
import { systemClock } from "../core/sources.ts";
import { parseFlags, requireFlag } from "./args.ts";

export const operatorUsage = `tapwire operator enroll --name NAME [--data-dir .tapwire]
  A person who acts from the console: a client certificate (CN operators/NAME) from the operator PKI, kept in the
  data dir for a console on this host, and a login token printed once (only its hash is kept).
  example: tapwire operator enroll --name ops --data-dir .tapwire
tapwire operator revoke --name NAME [--data-dir .tapwire]
  The operator acts no more: their console session ends at its next request, the broker refuses their certificate
  at connect, and \`tapwire pki crl\` lists it.
  example: tapwire operator revoke --name ops --data-dir .tapwire
tapwire operator list [--data-dir .tapwire]
  The enrolled operators and whether each is active.
  example: tapwire operator list --data-dir .tapwire`;

export async function operatorEnrollCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, name: { type: "string" } });
  const operatorId = requireFlag(values.name, "name");
  const { loginToken } = await withAdmin(values["data-dir"], (service, pki) => enrollOperator(enrolmentContext(service, pki), service.operators, { operatorId }), "create");
  process.stdout.write(`operator ${operatorId} enrolled (operators/${operatorId}); login token, shown once:\n${loginToken}\n`);
  return 0;
}

export async function operatorRevokeCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, name: { type: "string" } });
  const operatorId = requireFlag(values.name, "name");
  const revoked = await withAdmin(values["data-dir"], (service) => service.operators.revoke(operatorId, systemClock.nowMs()));
  process.stdout.write(`operator ${revoked.operatorId} revoked (certificate ${revoked.certificateSerial})\n`);
  return 0;
}

export async function operatorListCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag });
  const operators = await withAdmin(values["data-dir"], (service) => service.operators.list());
  for (const o of operators) {
    const revoked = o.revokedAtMs === undefined ? "" : ` revoked ${new Date(o.revokedAtMs).toISOString()}`;
    process.stdout.write(`${o.operatorId}\t${o.status}\tcert ${o.certificateSerial}\tenrolled ${new Date(o.enrolledAtMs).toISOString()}${revoked}\n`);
  }
  if (operators.length === 0) process.stdout.write("no operators enrolled\n");
  return 0;
}
