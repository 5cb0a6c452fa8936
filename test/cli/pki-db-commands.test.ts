// @peculiar/x509 resolves its providers through tsyringe, which needs the Reflect metadata API loaded first.
import "reflect-metadata";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate, X509Crl } from "@peculiar/x509";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { withAdmin } from "../../cli/admin.ts";
import { dbMigrateCommand } from "../../cli/db.ts";
import { hubEnrollCommand } from "../../cli/enroll.ts";
import { pkiCrlCommand } from "../../cli/pki.ts";
import { serviceSchema } from "../../broker/settlement/service-schema.ts";
import { glassesSchema } from "../../broker/settlement/glasses-payer-verifier.ts";
import { openSqliteDb, schemaVersion } from "../../broker/ledger/sqlite-db.ts";
import { systemClock } from "../../core/sources.ts";

let dataDir: string;

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "tapwire-cli-"));
  vi.spyOn(process.stdout, "write").mockImplementation(() => true);
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("tapwire pki crl", () => {
  it("lists exactly the revoked hubs' certificate serials, signed by the operator CA", async () => {
    await withAdmin(dataDir, (service) => service.registry.enrollMerchant({ merchantId: "m1", currency: "EUR", displayName: "M" }), "create");
    for (const hubId of ["h1", "h2"]) await hubEnrollCommand(["--hub-id", hubId, "--merchant-id", "m1", "--data-dir", dataDir, "--out", join(dataDir, hubId)]);
    await withAdmin(dataDir, (service) => service.registry.revokeHub("h2"));
    const out = join(dataDir, "crl.pem");

    await pkiCrlCommand(["--out", out, "--data-dir", dataDir]);

    const crl = new X509Crl(readFileSync(out, "utf8"));
    const ca = await withAdmin(dataDir, (_service, pki) => new X509Certificate(pki.ca.certPem));
    const serials = await withAdmin(dataDir, (service) => ["h1", "h2"].map((hubId) => service.registry.getHub(hubId).certificateSerial));
    expect(crl.entries.map((entry) => entry.serialNumber.toLowerCase())).toEqual([serials[1]]);
    expect(await crl.verify({ publicKey: ca.publicKey })).toBe(true);
  });
});

describe("tapwire db migrate", () => {
  it("brings a fresh SQLite store to every component's latest version, and does nothing the second time", async () => {
    await dbMigrateCommand(["--data-dir", dataDir]);
    await dbMigrateCommand(["--data-dir", dataDir]);

    const components = serviceSchema([glassesSchema]);
    const db = openSqliteDb({ path: join(dataDir, "ledger.sqlite"), components: [], clock: systemClock });
    try {
      expect(components.map((c) => schemaVersion(db, c.name))).toEqual(components.map((c) => c.migrations.length));
    } finally {
      db.close();
    }
  });
});
