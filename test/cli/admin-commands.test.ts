import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { withAdmin } from "../../cli/admin.ts";
import { agentEnrollCommand } from "../../cli/agent.ts";
import { disputeResolveCommand } from "../../cli/dispute.ts";
import { evidenceExportCommand, evidenceVerifyCommand } from "../../cli/evidence.ts";
import { mandateRegisterCommand } from "../../cli/mandate.ts";
import { reviewApproveCommand, reviewListCommand, reviewShowCommand } from "../../cli/review.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { enrolmentContext } from "../../cli/admin.ts";
import { hubRotateCommand } from "../../cli/hub-registry.ts";
import { agentRevokeCommand, walletRevokeCommand } from "../../cli/revoke.ts";
import { enrollAgent, enrollHub, enrollWallet } from "../../broker/enrolment.ts";
import { operatorEnrollCommand, operatorListCommand, operatorRevokeCommand } from "../../cli/operator.ts";
import { operatorCrl } from "../../broker/crl.ts";
import { X509Crl } from "@peculiar/x509";
import { captureStdout, codeOf, runCli } from "../support/cli.ts";


let dataDir: string;
let printed: string[];

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "tapwire-cli-"));
  printed = captureStdout();
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("administration commands refuse bad flags before opening the data directory", () => {
  it.each([
    ["review list with an unknown status", reviewListCommand, ["--status", "open"]],
    ["review list with an unknown kind", reviewListCommand, ["--kind", "refund"]],
    ["review list with an unknown flag", reviewListCommand, ["--colour", "red"]],
    ["review show without a case", reviewShowCommand, []],
    ["review approve without a case", reviewApproveCommand, []],
    ["dispute resolve without --favour", disputeResolveCommand, ["dispute-1"]],
    ["dispute resolve in favour of nobody", disputeResolveCommand, ["dispute-1", "--favour", "nobody"]],
    ["agent enroll without --agent-id", agentEnrollCommand, []],
    ["mandate register without --file", mandateRegisterCommand, ["--wallet-id", "w1"]],
    ["evidence export without --out", evidenceExportCommand, []],
  ])("%s: ConfigInvalid", async (_, command: (argv: string[]) => Promise<number>, argv: string[]) => {
    const code = await codeOf(() => command([...argv, "--data-dir", dataDir]));

    expect(code).toBe(ErrorCode.ConfigInvalid);
    expect(existsSync(join(dataDir, "ledger.sqlite"))).toBe(false);
  });
});

describe("administration commands on a fresh data directory", () => {
  it("lists an empty review queue and finds no case", async () => {
    await withAdmin(dataDir, () => undefined, "create");
    const listed = await reviewListCommand(["--data-dir", dataDir]);
    const shown = await codeOf(() => reviewShowCommand(["review-1", "--data-dir", dataDir]));

    expect(listed).toBe(0);
    expect(printed).toEqual([]);
    expect(shown).toBe(ErrorCode.ReviewNotFound);
  });

  it("enrols an agent and writes its credentials under the data directory", async () => {
    const exit = await agentEnrollCommand(["--agent-id", "a1", "--data-dir", dataDir]);

    expect(exit).toBe(0);
    for (const file of ["cert.pem", "ca.pem", "service.pub.pem", "key.pem"]) {
      expect(existsSync(join(dataDir, "agents", "a1", file))).toBe(true);
    }
  });

  it("exports an evidence bundle that verifies offline", async () => {
    await withAdmin(dataDir, () => undefined, "create");
    const bundle = join(dataDir, "out", "evidence.json");

    const exported = await evidenceExportCommand(["--out", bundle, "--data-dir", dataDir]);
    const verified = await evidenceVerifyCommand(["--bundle", bundle, "--data-dir", dataDir]);

    expect([exported, verified]).toEqual([0, 0]);
    expect(printed.at(-1)).toBe("evidence ok\n");
  });
});

describe("tapwire binary", () => {
  it("routes review and dispute commands through its command table", async () => {
    await withAdmin(dataDir, () => undefined, "create");
    const listed = await runCli(["dispute", "list", "--data-dir", dataDir]);
    const missing = await runCli(["review", "show", "review-1", "--data-dir", dataDir]);

    expect(listed).toMatchObject({ code: 0, stdout: "" });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(new RegExp(`^tapwire: E${ErrorCode.ReviewNotFound} ReviewNotFound: `));
  });
});

describe("tapwire operator enroll", () => {
  it("issues operators/NAME's certificate into the data dir's PKI and prints a login token kept only as a hash", async () => {
    expect(await operatorEnrollCommand(["--data-dir", dataDir, "--name", "alice"])).toBe(0);
    const token = printed.join("").trim().split("\n").at(-1)!;

    const certPem = readFileSync(join(dataDir, "pki", "operators", "alice.cert.pem"), "utf8");
    expect(certPem).toContain("BEGIN CERTIFICATE");
    expect(existsSync(join(dataDir, "pki", "operators", "alice.key.pem"))).toBe(true);
    expect(token).toMatch(/^[\w-]{43}$/);
    const checks = await withAdmin(dataDir, (service) => ({
      right: service.operators.checkLogin("alice", token),
      wrong: service.operators.checkLogin("alice", `${token.startsWith("x") ? "y" : "x"}${token.slice(1)}`),
      stored: service.database.prepare("SELECT login_hash FROM operators").pluck().get() as Buffer,
    }));
    expect(checks).toMatchObject({ right: true, wrong: false });
    expect(checks.stored.toString("base64url")).not.toContain(token);
  });

  it("refuses to enrol the same name twice and lists who is enrolled", async () => {
    await operatorEnrollCommand(["--data-dir", dataDir, "--name", "alice"]);

    await expect(operatorEnrollCommand(["--data-dir", dataDir, "--name", "alice"])).rejects.toMatchObject({ code: ErrorCode.OperatorAlreadyEnrolled });
    printed.length = 0;
    expect(await operatorListCommand(["--data-dir", dataDir])).toBe(0);
    expect(printed.join("")).toMatch(/^alice\tactive\tcert [0-9a-f]+\tenrolled /);
  });

  it("revokes an operator: the login token no longer logs in, the list says so, the CRL lists the certificate; an unknown name is a typed error", async () => {
    await operatorEnrollCommand(["--data-dir", dataDir, "--name", "alice"]);
    const token = printed.join("").trim().split("\n").at(-1)!;

    expect(await operatorRevokeCommand(["--data-dir", dataDir, "--name", "alice"])).toBe(0);
    await expect(operatorRevokeCommand(["--data-dir", dataDir, "--name", "bob"])).rejects.toMatchObject({ code: ErrorCode.UnknownOperator });
    printed.length = 0;
    await operatorListCommand(["--data-dir", dataDir]);

    expect(printed.join("")).toMatch(/^alice\trevoked\tcert [0-9a-f]+\tenrolled .* revoked /);
    const after = await withAdmin(dataDir, async (service, pki) => ({
      login: service.operators.checkLogin("alice", token),
      serial: service.operators.find("alice")!.certificateSerial,
      crl: (await operatorCrl(service, pki, { nowMs: () => Date.now() })).pem,
    }));
    expect(after.login).toBe(false);
    expect(new X509Crl(after.crl).entries.map((entry) => entry.serialNumber.replace(/^0+/, ""))).toContain(after.serial.replace(/^0+/, ""));
  });
});

describe("tapwire hub rotate, wallet revoke, agent revoke", () => {
  it("rotates a hub's key into a new bundle and puts the old certificate on the revoked list", async () => {
    await withAdmin(dataDir, async (service, pki) => {
      service.registry.enrollMerchant({ merchantId: "m1", currency: "EUR" });
      await enrollHub(enrolmentContext(service, pki), { hubId: "h1", merchantId: "m1" });
    }, "create");
    const before = await withAdmin(dataDir, (service) => service.registry.getHub("h1"));

    expect(await hubRotateCommand(["--data-dir", dataDir, "--hub-id", "h1", "--out", join(dataDir, "rotated")])).toBe(0);

    const after = await withAdmin(dataDir, (service) => ({ hub: service.registry.getHub("h1"), revoked: service.revokedCertificates.isRevoked(before.certificateSerial) }));
    expect(after.hub.certificateSerial).not.toBe(before.certificateSerial);
    expect(after.hub.publicKeyPem).not.toBe(before.publicKeyPem);
    expect(after.revoked).toBe(true);
    expect(existsSync(join(dataDir, "rotated", "key.pem"))).toBe(true);
    expect(printed.join("")).toContain("hub h1 rotated");
  });

  it("revokes a wallet and an agent by name; an unknown one is a typed error", async () => {
    await withAdmin(dataDir, async (service, pki) => {
      await enrollWallet(enrolmentContext(service, pki), { walletId: "w1", currency: "EUR", perPaymentMaxMinor: 100 });
      await enrollAgent(enrolmentContext(service, pki), service.agents, { agentId: "a1" });
    }, "create");

    expect(await walletRevokeCommand(["--data-dir", dataDir, "--wallet-id", "w1"])).toBe(0);
    expect(await agentRevokeCommand(["--data-dir", dataDir, "--agent-id", "a1"])).toBe(0);
    await expect(walletRevokeCommand(["--data-dir", dataDir, "--wallet-id", "w9"])).rejects.toMatchObject({ code: ErrorCode.UnknownWallet });

    const statuses = await withAdmin(dataDir, (service) => [service.registry.getWallet("w1").status, service.registry.getAgent("a1").status]);
    expect(statuses).toEqual(["revoked", "revoked"]);
  });
});
