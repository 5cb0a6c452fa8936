// @peculiar/x509 resolves its providers through tsyringe, which needs the Reflect metadata API loaded first.
import "reflect-metadata";
import { webcrypto, X509Certificate as NodeX509Certificate, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { generateP256, importPrivatePem, privateKeyPem } from "../../protocol/keys.ts";
import type { Clock, Random } from "../../core/sources.ts";
import { parsePrincipalName, principalName, type Principal } from "../../protocol/topics.ts";

/**
 * The operator's small PKI: one self-signed CA (P-256, ECDSA-SHA256) that issues the broker's server
 * certificate and one client certificate per principal. A client certificate's CN is the principal's topic
 * segment (`hubs/h1`), which both brokers read as the identity (see protocol/topics.ts). Everything returns
 * PEM strings, which node:tls, mqtt.js and Mosquitto take as they are.
 */

const crypto = webcrypto as unknown as Crypto;
const ecdsa = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A certificate and its private key, both PEM. */
export interface CertifiedKey {
  certPem: string;
  keyPem: string;
}

export interface Validity {
  notBeforeMs: number;
  notAfterMs: number;
}

/** A positive serial of 16 random bytes, as hex (RFC 5280 allows up to 20 octets). */
export function randomSerialHex(random: Random): string {
  const bytes = random.bytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString("hex");
}

/** Validity starting a minute in the past, so a peer whose clock lags slightly still accepts it. */
export function validityFrom(clock: Clock, lifetimeMs: number): Validity {
  const skewMs = 60_000;
  const nowMs = clock.nowMs();
  return { notBeforeMs: nowMs - skewMs, notAfterMs: nowMs + lifetimeMs };
}

async function toCryptoPublic(key: KeyObject): Promise<CryptoKey> {
  const der = key.export({ type: "spki", format: "der" });
  return crypto.subtle.importKey("spki", der, ecdsa, true, ["verify"]);
}

async function toCryptoPrivate(key: KeyObject): Promise<CryptoKey> {
  const der = key.export({ type: "pkcs8", format: "der" });
  return crypto.subtle.importKey("pkcs8", der, ecdsa, false, ["sign"]);
}

function checkValidity(validity: Validity): void {
  if (!(Number.isSafeInteger(validity.notBeforeMs) && Number.isSafeInteger(validity.notAfterMs) && validity.notBeforeMs < validity.notAfterMs)) {
    throw new TapwireError("certificate validity must be a non-empty range of integer milliseconds", ErrorCode.CertificateInvalid, { ...validity });
  }
}

function checkSerial(serialHex: string): void {
  if (!/^[0-9a-f]{2,40}$/.test(serialHex) || serialHex.length % 2 !== 0 || /^0+$/.test(serialHex)) {
    throw new TapwireError("certificate serial must be 1-20 bytes of lowercase hex, not zero", ErrorCode.CertificateInvalid, { serialHex });
  }
}

/** `serialHex` is stored as given; a leading byte ≥ 0x80 would make DER prepend a zero, so refuse it. */
function checkPositiveSerial(serialHex: string): void {
  checkSerial(serialHex);
  if (parseInt(serialHex.slice(0, 2), 16) >= 0x80) {
    throw new TapwireError("certificate serial must start below 0x80 (positive DER integer)", ErrorCode.CertificateInvalid, { serialHex });
  }
}

export interface CaOptions extends Validity {
  commonName: string;
  serialHex: string;
}

/** A self-signed operator CA: basicConstraints CA (critical, path length 0), keyCertSign + cRLSign. */
export async function createOperatorCa(options: CaOptions): Promise<CertifiedKey> {
  checkValidity(options);
  checkPositiveSerial(options.serialHex);
  const pair = generateP256();
  const publicKey = await toCryptoPublic(pair.publicKey);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: options.serialHex,
      name: [{ CN: [options.commonName] }],
      notBefore: new Date(options.notBeforeMs),
      notAfter: new Date(options.notAfterMs),
      signingAlgorithm: ecdsa,
      keys: { publicKey, privateKey: await toCryptoPrivate(pair.privateKey) },
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: cert.toString("pem"), keyPem: privateKeyPem(pair.privateKey) };
}

interface IssueParams extends Validity {
  ca: CertifiedKey;
  serialHex: string;
  commonName: string;
  publicKey: KeyObject;
  extensions: x509.Extension[];
}

async function issue(params: IssueParams): Promise<string> {
  checkValidity(params);
  checkPositiveSerial(params.serialHex);
  const caCert = new x509.X509Certificate(params.ca.certPem);
  const publicKey = await toCryptoPublic(params.publicKey);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: params.serialHex,
      subject: [{ CN: [params.commonName] }],
      issuer: caCert.subjectName,
      notBefore: new Date(params.notBeforeMs),
      notAfter: new Date(params.notAfterMs),
      signingAlgorithm: ecdsa,
      publicKey,
      signingKey: await toCryptoPrivate(importPrivatePem(params.ca.keyPem)),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
        ...params.extensions,
      ],
    },
    crypto,
  );
  return cert.toString("pem");
}

export interface ServerCertOptions extends Validity {
  serialHex: string;
  /** IP addresses and DNS names the broker answers on; default 127.0.0.1 and localhost. */
  hosts?: readonly string[];
}

/** The broker's certificate (serverAuth) with a fresh P-256 key. */
export async function issueServerCert(ca: CertifiedKey, options: ServerCertOptions): Promise<CertifiedKey> {
  const hosts = options.hosts ?? ["127.0.0.1", "localhost"];
  const pair = generateP256();
  const certPem = await issue({
    ca,
    serialHex: options.serialHex,
    notBeforeMs: options.notBeforeMs,
    notAfterMs: options.notAfterMs,
    commonName: hosts[0] ?? "localhost",
    publicKey: pair.publicKey,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(hosts.map((host) => ({ type: isIP(host) ? ("ip" as const) : ("dns" as const), value: host }))),
    ],
  });
  return { certPem, keyPem: privateKeyPem(pair.privateKey) };
}

export interface ClientCertOptions extends Validity {
  principal: Principal;
  /** The principal's own key (from its secure element); the CA never sees the private half. */
  publicKey: KeyObject;
  serialHex: string;
}

/** A principal's client certificate (clientAuth); CN = principalName(principal). */
export async function issueClientCert(ca: CertifiedKey, options: ClientCertOptions): Promise<string> {
  return issue({
    ca,
    serialHex: options.serialHex,
    notBeforeMs: options.notBeforeMs,
    notAfterMs: options.notAfterMs,
    commonName: principalName(options.principal),
    publicKey: options.publicKey,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
    ],
  });
}

/**
 * A certificate revocation list signed by the CA (RFC 5280 v2, ECDSA-SHA256), PEM, for brokers that check client
 * certificates at the handshake (Mosquitto's `crlfile`): every serial given, with when. Valid over `validity`: it
 * must be written again before it ends, and after every revocation.
 */
export async function issueCrl(ca: CertifiedKey, entries: ReadonlyArray<{ serialHex: string; revokedAtMs: number }>, validity: Validity): Promise<string> {
  checkValidity(validity);
  const caCert = new x509.X509Certificate(ca.certPem);
  const crl = await x509.X509CrlGenerator.create(
    {
      issuer: caCert.subjectName,
      thisUpdate: new Date(validity.notBeforeMs),
      nextUpdate: new Date(validity.notAfterMs),
      signingAlgorithm: ecdsa,
      signingKey: await toCryptoPrivate(importPrivatePem(ca.keyPem)),
      entries: entries.map((entry) => ({ serialNumber: evenHex(entry.serialHex), revocationDate: new Date(entry.revokedAtMs) })),
      extensions: [await x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto)],
    },
    crypto,
  );
  // OpenSSL (Mosquitto) reads only the RFC 7468 label; the library's own PEM says "CRL".
  return x509.PemConverter.encode(crl.rawData, "X509 CRL");
}

/** A serial as stored (Node's form drops leading zeros) back to whole bytes of lowercase hex. */
function evenHex(serialHex: string): string {
  const hex = serialHex.toLowerCase();
  return hex.length % 2 === 0 ? hex : `0${hex}`;
}

/** Convenience for tools and tests: a fresh key pair and its client certificate. */
export async function issueClientIdentity(ca: CertifiedKey, options: Omit<ClientCertOptions, "publicKey">): Promise<CertifiedKey> {
  const pair = generateP256();
  const certPem = await issueClientCert(ca, { ...options, publicKey: pair.publicKey });
  return { certPem, keyPem: privateKeyPem(pair.privateKey) };
}

export interface CertificateInfo {
  commonName: string;
  /** Undefined when the CN is not a principal name (the CA, the server). */
  principal: Principal | undefined;
  serialHex: string;
  notBeforeMs: number;
  notAfterMs: number;
  publicKey: KeyObject;
}

/** Reads what the registry needs from a PEM certificate; checks it was issued by `caPem` when given. */
export function readCertificate(certPem: string, caPem?: string): CertificateInfo {
  let cert: NodeX509Certificate;
  try {
    cert = new NodeX509Certificate(certPem);
  } catch (error) {
    throw new TapwireError(`unreadable certificate: ${(error as Error).message}`, ErrorCode.CertificateInvalid);
  }
  if (caPem !== undefined && !cert.verify(new NodeX509Certificate(caPem).publicKey)) {
    throw new TapwireError("certificate was not issued by this CA", ErrorCode.CertificateInvalid, { serial: cert.serialNumber });
  }
  const commonName = commonNameOf(cert.subject);
  return {
    commonName,
    principal: parsePrincipalName(commonName),
    serialHex: cert.serialNumber.toLowerCase(),
    notBeforeMs: Date.parse(cert.validFrom),
    notAfterMs: Date.parse(cert.validTo),
    publicKey: cert.publicKey,
  };
}

/** node renders the subject as `CN=hubs/h1` lines; the CN of our certificates never holds a newline. */
function commonNameOf(subject: string): string {
  const line = subject.split("\n").find((part) => part.startsWith("CN="));
  return line === undefined ? "" : line.slice(3);
}

