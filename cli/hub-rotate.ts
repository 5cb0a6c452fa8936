/**
 * `tapwire hub rotate`: with --config it runs on the hub and renews over the hub's own link (hub-renew.ts, no broker
 * code loaded on a Pi); with --hub-id it is the operator's rotation beside the settlement data (hub-registry.ts).
 */
export async function hubRotateCommand(argv: string[]): Promise<number> {
  if (argv.includes("--config")) return (await import("./hub-renew.ts")).hubRenewCommand(argv);
  return (await import("./hub-registry.ts")).hubRotateCommand(argv);
}
