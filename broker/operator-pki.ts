import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { KeyObject } from "node:crypto";
import { generateP256, importPrivatePem, privateKeyPem } from "../protocol/keys.ts";
import type { Clock, Random } from "../core/sources.ts";
import { principalName, settlementPrincipal, type Principal } from "../protocol/topics.ts";
import {
  createOperatorCa,
  issueClientCert,
  issueClientIdentity,
  issueServerCert,
  randomSerialHex,
  validityFrom,
  type CertifiedKey,
} from "./pki/certificates.ts";
import { PkiStore } from "./pki/store.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { keyBytes as privacyKekBytes } from "./privacy/personal-keys.ts";

/** CA and server certificates live ten years; client identities five (a hub's service life). */
export const caLifetimeMs = 10 * 365 * 24 * 3600 * 1000;
export const clientLifetimeMs = 5 * 365 * 24 * 3600 * 1000;

export const servicePrincipal: Principal = settlementPrincipal();

export interface OperatorPki {
  store: PkiStore;
  ca: CertifiedKey;
  server: CertifiedKey;
  /** The settlement service's MQTT client identity (CN services/settlement). */
  service: CertifiedKey;
  /** The key every decision is signed with; hubs are given its public half at enrolment. */
  serviceSigningKey: KeyObject;
  /** The 32-byte key-encryption key that wraps people's data keys (broker/privacy/personal-keys.ts). */
  privacyKek: Uint8Array;
}

/**
 * Loads the operator's PKI from a data directory, creating what is missing on first start: the CA, the
 * broker's server certificate, the service's client identity and its decision-signing key.
 */
export async function loadOrCreateOperatorPki(dataDir: string, clock: Clock, random: Random): Promise<OperatorPki> {
  const pkiDir = join(dataDir, "pki");
  await mkdir(pkiDir, { recursive: true, mode: 0o700 });
  const store = new PkiStore(pkiDir);
  let ca = await store.loadCa();
  if (!ca) {
    ca = await createOperatorCa({ commonName: "tapwire operator CA", serialHex: randomSerialHex(random), ...validityFrom(clock, caLifetimeMs) });
    await store.saveCa(ca);
  }
  let server = await store.loadServer();
  if (!server) {
    server = await issueServerCert(ca, { serialHex: randomSerialHex(random), ...validityFrom(clock, caLifetimeMs) });
    await store.saveServer(server);
  }
  const service = await loadOrIssueIdentity(store, ca, servicePrincipal, clock, random);
  const signingKeyPath = join(pkiDir, "service-signing.key.pem");
  if (!existsSync(signingKeyPath)) {
    await writeFile(signingKeyPath, privateKeyPem(generateP256().privateKey), { mode: 0o600, flag: "wx" });
  }
  const serviceSigningKey = importPrivatePem(await readFile(signingKeyPath, "utf8"));
  return { store, ca, server, service, serviceSigningKey, privacyKek: await loadOrCreatePrivacyKek(join(pkiDir, "privacy-kek.bin"), random) };
}

/**
 * The privacy key-encryption key, beside the signing key and readable by the owner only. Losing it makes every
 * person's sealed personal fields unreadable (as an erase would); the money records do not depend on it.
 */
async function loadOrCreatePrivacyKek(path: string, random: Random): Promise<Uint8Array> {
  if (!existsSync(path)) await writeFile(path, random.bytes(privacyKekBytes), { mode: 0o600, flag: "wx" });
  const kek = new Uint8Array(await readFile(path));
  if (kek.length !== privacyKekBytes) throw new TapwireError(`${path} holds ${kek.length} bytes, not a ${privacyKekBytes}-byte key`, ErrorCode.ConfigInvalid, { path });
  return kek;
}

/** The worker's certificate and key, issued by the operator CA on its first start and kept in the PKI store. */
export function loadOrCreateWorkerIdentity(pki: OperatorPki, instance: string, clock: Clock, random: Random): Promise<CertifiedKey> {
  return loadOrIssueIdentity(pki.store, pki.ca, settlementPrincipal(instance), clock, random);
}

async function loadOrIssueIdentity(store: PkiStore, ca: CertifiedKey, principal: Principal, clock: Clock, random: Random): Promise<CertifiedKey> {
  const name = principalName(principal);
  const existing = await store.loadIdentity(name);
  if (existing) return existing;
  const issued = await issueClientIdentity(ca, { principal, serialHex: randomSerialHex(random), ...validityFrom(clock, clientLifetimeMs) });
  await store.saveIdentity(name, issued);
  return issued;
}

/** Issues a principal's client certificate for a public key it generated itself (its secure element's). */
export async function certifyPrincipal(pki: OperatorPki, principal: Principal, publicKey: KeyObject, clock: Clock, random: Random): Promise<{ certPem: string; serialHex: string }> {
  const serialHex = randomSerialHex(random);
  const certPem = await issueClientCert(pki.ca, { principal, publicKey, serialHex, ...validityFrom(clock, clientLifetimeMs) });
  return { certPem, serialHex };
}
