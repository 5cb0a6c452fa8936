import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { withAdmin } from "../../cli/admin.ts";
import { campaignAddCommand, campaignListCommand, campaignStopCommand } from "../../cli/campaign.ts";
import { campaignAccountId } from "../../broker/ledger/ledger.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { captureStdout, codeOf } from "../support/cli.ts";


let dataDir: string;
let printed: string[];

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "tapwire-campaign-cli-"));
  printed = captureStdout();
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dataDir, { recursive: true, force: true });
});

// The CLI starts a campaign by the system clock; a window must last at most a year and a day.
const endsAtMs = Date.now() + 30 * 86_400_000;
const required = ["--campaign-id", "c1", "--currency", "EUR", "--budget-minor", "5000", "--ends-at", new Date(endsAtMs).toISOString()];

describe("tapwire campaign refuses bad definitions before opening the data directory", () => {
  it.each([
    ["no rule", required],
    ["two rules", [...required, "--off-minor", "100", "--percent-bps", "500", "--cap-minor", "300"]],
    ["a percent without its cap", [...required, "--percent-bps", "500"]],
    ["a budget in decimals", ["--campaign-id", "c1", "--currency", "EUR", "--budget-minor", "50.00", "--ends-at", "2100-01-01", "--off-minor", "100"]],
    ["an end that is no time", ["--campaign-id", "c1", "--currency", "EUR", "--budget-minor", "5000", "--ends-at", "soon", "--off-minor", "100"]],
    ["an unknown exhaustion rule", [...required, "--off-minor", "100", "--on-exhausted", "panic"]],
    ["an unknown flag", [...required, "--off-minor", "100", "--colour", "red"]],
    ["no campaign id", ["--currency", "EUR", "--budget-minor", "5000", "--ends-at", "2100-01-01", "--off-minor", "100"]],
  ])("%s: ConfigInvalid", async (_, argv: string[]) => {
    const code = await codeOf(() => campaignAddCommand([...argv, "--data-dir", dataDir]));

    expect(code).toBe(ErrorCode.ConfigInvalid);
    expect(existsSync(join(dataDir, "ledger.sqlite"))).toBe(false);
  });

  it("list on a data directory that does not exist: DataDirUnusable", async () => {
    expect(await codeOf(() => campaignListCommand(["--data-dir", join(dataDir, "missing")]))).toBe(ErrorCode.DataDirUnusable);
  });
});

describe("tapwire campaign on a data directory", () => {
  it("adds, lists and stops a campaign, funding its budget and recording who stopped it", async () => {
    await withAdmin(dataDir, (service) => service.registry.enrollMerchant({ merchantId: "m1", currency: "EUR" }), "create");

    const added = await campaignAddCommand([...required, "--merchant-id", "m1", "--percent-bps", "1000", "--cap-minor", "300", "--operator", "alice", "--data-dir", dataDir]);
    const listed = await campaignListCommand(["--data-dir", dataDir]);
    const stopped = await campaignStopCommand(["--campaign-id", "c1", "--operator", "bob", "--data-dir", dataDir]);
    const unknown = await codeOf(() => campaignStopCommand(["--campaign-id", "c9", "--data-dir", dataDir]));
    const twice = await codeOf(() => campaignAddCommand([...required, "--off-minor", "100", "--data-dir", dataDir]));

    expect([added, listed, stopped]).toEqual([0, 0, 0]);
    expect([unknown, twice]).toEqual([ErrorCode.UnknownCampaign, ErrorCode.CampaignAlreadyDefined]);
    expect(printed).toHaveLength(3);
    expect(printed.every((line) => line.startsWith("c1\tmerchant m1\t"))).toBe(true);
    const state = await withAdmin(dataDir, (service) => ({
      campaign: service.campaigns.get("c1"),
      balanceMinor: service.ledger.balanceOf(campaignAccountId("c1")),
    }));
    expect(state.campaign).toMatchObject({
      rule: { kind: "percent", percentBps: 1_000, capMinor: 300 },
      budgetMinor: 5_000,
      endsAtMs,
      definedBy: "operators/alice",
      status: "stopped",
      stoppedBy: "operators/bob",
    });
    expect(state.balanceMinor).toBe(5_000);
  });

  it("lists nothing on a fresh data directory", async () => {
    await withAdmin(dataDir, () => undefined, "create");

    expect(await campaignListCommand(["--data-dir", dataDir])).toBe(0);
    expect(printed).toEqual(["no campaigns\n"]);
  });
});
