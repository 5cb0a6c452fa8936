import { existsSync, mkdtempSync, rmSync } from "node:fs";
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
