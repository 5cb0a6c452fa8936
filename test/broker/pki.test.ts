import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createOperatorCa, issueClientCert, issueServerCert, randomSerialHex, readCertificate } from "../../broker/pki/certificates.ts";
import { PkiStore } from "../../broker/pki/store.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { generateP256, publicKeyPem } from "../../protocol/keys.ts";
import { ManualClock, SeededRandom } from "../../core/sources.ts";

const clock = new ManualClock();
const random = new SeededRandom(7);
const validity = { notBeforeMs: clock.nowMs() - 60_000, notAfterMs: clock.nowMs() + 86_400_000 };

describe("operator PKI", () => {
  it("creates a self-signed CA that may sign certificates and nothing else", async () => {
    const ca = await createOperatorCa({ commonName: "op CA", serialHex: randomSerialHex(random), ...validity });

    const cert = new X509Certificate(ca.certPem);

    expect(cert.ca).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.subject).toBe("CN=op CA");
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
  });

  it("issues a server certificate for 127.0.0.1 and localhost", async () => {
    const ca = await createOperatorCa({ commonName: "op CA", serialHex: randomSerialHex(random), ...validity });

    const server = await issueServerCert(ca, { serialHex: randomSerialHex(random), ...validity });
    const cert = new X509Certificate(server.certPem);

    expect(cert.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(cert.checkHost("localhost")).toBe("localhost");
    expect(cert.ca).toBe(false);
  });

  it("issues a client certificate for a principal's own public key, CN = its topic segment", async () => {
    const ca = await createOperatorCa({ commonName: "op CA", serialHex: randomSerialHex(random), ...validity });
    const hubKey = generateP256();
    const serialHex = randomSerialHex(random);

    const certPem = await issueClientCert(ca, { principal: { kind: "hub", id: "h1" }, publicKey: hubKey.publicKey, serialHex, ...validity });
    const info = readCertificate(certPem, ca.certPem);

    expect(info.commonName).toBe("hubs/h1");
    expect(info.principal).toEqual({ kind: "hub", id: "h1" });
    expect(info.serialHex).toBe(serialHex);
    expect(info.notAfterMs).toBe(validity.notAfterMs);
    expect(publicKeyPem(info.publicKey)).toBe(publicKeyPem(hubKey.publicKey));
    expect(new X509Certificate(certPem).keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]);
  });

  it("rejects a certificate from another CA, a bad serial and an empty validity with CertificateInvalid", async () => {
    const ca = await createOperatorCa({ commonName: "op CA", serialHex: randomSerialHex(random), ...validity });
    const other = await createOperatorCa({ commonName: "other CA", serialHex: randomSerialHex(random), ...validity });
    const stranger = await issueClientCert(other, { principal: { kind: "hub", id: "h1" }, publicKey: generateP256().publicKey, serialHex: "01", ...validity });
    const attempts = [
      async () => readCertificate(stranger, ca.certPem),
      () => createOperatorCa({ commonName: "x", serialHex: "00", ...validity }),
      () => createOperatorCa({ commonName: "x", serialHex: "ff01", ...validity }),
      () => createOperatorCa({ commonName: "x", serialHex: "01", notBeforeMs: 10, notAfterMs: 10 }),
    ];

    for (const attempt of attempts) {
      const failure = await attempt().catch((error: unknown) => error);
      expect(isTapwireError(failure, ErrorCode.CertificateInvalid)).toBe(true);
    }
  });
});

describe("PkiStore", () => {
  it("saves and loads the CA and identities, keys readable only by the owner", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tapwire-pki-"));
    try {
      const store = new PkiStore(dir);
      const ca = await createOperatorCa({ commonName: "op CA", serialHex: randomSerialHex(random), ...validity });
      const identity = { certPem: "-----BEGIN CERTIFICATE-----\n", keyPem: "-----BEGIN PRIVATE KEY-----\n" };

      await store.saveCa(ca);
      await store.saveIdentity("hubs/h1", identity);

      expect(await store.loadCa()).toEqual(ca);
      expect(await store.loadIdentity("hubs/h1")).toEqual(identity);
      expect(await store.loadIdentity("hubs/h2")).toBeUndefined();
      expect((await stat(join(dir, "ca.key.pem"))).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, "hubs", "h1.key.pem"))).mode & 0o777).toBe(0o600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses names that are not principals or would leave the directory", async () => {
    const store = new PkiStore(tmpdir());

    for (const name of ["hubs/..", "../etc", "hubs/h1/x", "nobody/h1"]) {
      const failure = await store.loadIdentity(name).catch((error: unknown) => error);
      expect(isTapwireError(failure, ErrorCode.CertificateInvalid)).toBe(true);
    }
  });
});
