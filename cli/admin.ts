import { createPublicKey, type KeyObject } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { EnrolmentBundle, EnrolmentContext } from "../broker/enrolment.ts";
import { loadOrCreateOperatorPki, type OperatorPki } from "../broker/operator-pki.ts";
import { SettlementService } from "../broker/settlement/settlement-service.ts";
import { createDataDir, makeDirectories, requireDataDir } from "../core/data-dir.ts";
import { systemClock, systemRandom } from "../core/sources.ts";
import { storeOfDataDir } from "../broker/store/store-location.ts";

/** The flag every administration command takes: where the operator PKI and the settlement database live. */
export const dataDirFlag = { "data-dir": { type: "string", default: ".tapwire" } } as const;

/** Whether a command may set a data directory up ("create": settle and the enrol commands) or reads one ("existing"). */
export type DataDirAccess = "create" | "existing";

/**
 * Opens the settlement database of a data directory (works while `tapwire settle` runs: SQLite WAL). Only
 * `access: "create"` makes a missing directory; otherwise a missing one is refused with its path.
 */
export async function withAdmin<T>(
  dataDir: string,
  work: (service: SettlementService, pki: OperatorPki) => Promise<T> | T,
  access: DataDirAccess = "existing",
): Promise<T> {
  await (access === "create" ? createDataDir(dataDir) : requireDataDir(dataDir));
  const pki = await loadOrCreateOperatorPki(dataDir, systemClock, systemRandom);
  const service = new SettlementService({ databasePath: storeOfDataDir(dataDir), serviceKey: pki.serviceSigningKey, privacyKek: pki.privacyKek, clock: systemClock });
  await service.start();
  try {
    return await work(service, pki);
  } finally {
    await service.stop();
  }
}

export function enrolmentContext(service: SettlementService, pki: OperatorPki): EnrolmentContext {
  return { pki, registry: service.registry, clock: systemClock, random: systemRandom };
}

/** The public half of the key the service signs decisions with, to read them back offline. */
export async function serviceKeyOf(dataDir: string): Promise<KeyObject> {
  await requireDataDir(dataDir);
  const pki = await loadOrCreateOperatorPki(dataDir, systemClock, systemRandom);
  return createPublicKey(pki.serviceSigningKey);
}

/** Makes the folder an enrolment bundle goes to (owner-only), before the principal is enrolled. */
export function makeBundleDir(outDir: string): void {
  makeDirectories(outDir, { mode: 0o700, what: "--out folder" });
}

/** Writes what a principal needs to connect; the private key (when generated here) readable by the owner only. */
export async function writeBundle(outDir: string, bundle: EnrolmentBundle): Promise<void> {
  makeBundleDir(outDir);
  await writeFile(join(outDir, "cert.pem"), bundle.certPem);
  await writeFile(join(outDir, "ca.pem"), bundle.caPem);
  await writeFile(join(outDir, "service.pub.pem"), bundle.servicePublicKeyPem);
  if (bundle.keyPem) await writeFile(join(outDir, "key.pem"), bundle.keyPem, { mode: 0o600 });
}
