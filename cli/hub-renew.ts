import { renameSync, writeFileSync } from "node:fs";
import { daysLeft, renewHubCertificate } from "../firmware-bridge/adapters/cert-renewal-client.ts";
import { HubLink } from "../firmware-bridge/mqtt/hub-link.ts";
import { systemClock, systemRandom } from "../core/sources.ts";
import { importPrivatePem, importPublicPem } from "../protocol/keys.ts";
import { integerFlag, parseFlags, requireFlag } from "./args.ts";
import { loadHubConfig, readHubSecrets } from "./hub-config.ts";

export const renewalWithinDaysDefault = 30;

/**
 * `tapwire hub rotate --config hub.json`: on the hub, renews its certificate over its own mTLS link when it expires
 * within --within-days (or --force), writing the new key and certificate beside the old ones (kept as .old). The
 * next start of the hub connects with them, and the service then revokes the old certificate.
 */
export async function hubRenewCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { config: { type: "string" }, "within-days": { type: "string" }, force: { type: "boolean" } });
  const config = loadHubConfig(requireFlag(values.config, "config"));
  const secrets = readHubSecrets(config.broker);
  const withinDays = integerFlag(values["within-days"], "within-days", 1, 3_650, renewalWithinDaysDefault);
  const left = daysLeft(secrets.certPem, systemClock.nowMs());
  if (!values.force && left > withinDays) {
    process.stdout.write(`hub ${config.hubId}: certificate valid for ${Math.floor(left)} more days; nothing to do (renews within ${withinDays})\n`);
    return 0;
  }
  const link = new HubLink({
    url: config.broker.url,
    tls: { caPem: secrets.caPem, certPem: secrets.certPem, keyPem: secrets.keyPem },
    principal: { kind: "hub", id: config.hubId },
    protocolVersion: config.broker.protocolVersion,
    servicePublicKey: importPublicPem(secrets.servicePublicKeyPem),
    reconnectAttemptsMax: 3,
  });
  link.start();
  try {
    await link.waitConnected(config.link.connectTimeoutMs);
    const renewed = await renewHubCertificate({ link, hubId: config.hubId, currentKey: importPrivatePem(secrets.keyPem), clock: systemClock, random: systemRandom });
    replaceKeeping(config.broker.keyFile, renewed.keyPem, 0o600);
    replaceKeeping(config.broker.certFile, renewed.certPem, 0o644);
  } finally {
    await link.stop();
  }
  process.stdout.write(`hub ${config.hubId}: new key and certificate in ${config.broker.keyFile} and ${config.broker.certFile}; restart the hub to switch (the old certificate is revoked then)\n`);
  return 0;
}

/** Writes `path` anew (through a temporary file and a rename), the previous contents kept as `path.old`. */
function replaceKeeping(path: string, contents: string, mode: number): void {
  writeFileSync(`${path}.new`, contents, { mode });
  renameSync(path, `${path}.old`);
  renameSync(`${path}.new`, path);
}
