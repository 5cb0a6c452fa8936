import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { merchantAddCommand } from "../../cli/enroll.ts";
import { merchantSetOfflineCommand, offlineLossesCommand } from "../../cli/offline.ts";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { captureStdout, codeOf, runCli } from "../support/cli.ts";
import { generateP256, publicKeyPem } from "../../protocol/keys.ts";
import { ManualClock, SeededRandom } from "../../core/sources.ts";
import { SettlementService } from "../../broker/settlement/settlement-service.ts";
import { TestHub, TestWallet } from "../settlement/fixtures.ts";
import { floor } from "./preamble.ts";



const limitFlags = [
  "--offline-sale-max-minor",
  String(floor.saleMaxMinor),
  "--offline-total-max-minor",
  String(floor.totalMaxMinor),
  "--offline-count-max",
  String(floor.countMax),
  "--offline-age-max-ms",
  String(floor.ageMsMax),
];

let dataDir: string;
let printed: string[];

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "tapwire-offline-cli-"));
  printed = captureStdout();
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Opens the data directory's settlement database as `tapwire settle` would, for the work a hub does over MQTT. */
async function withService<T>(work: (service: SettlementService) => Promise<T>): Promise<T> {
  const service = new SettlementService({ databasePath: join(dataDir, "ledger.sqlite"), serviceKey: generateP256().privateKey, clock: new ManualClock() });
  await service.start();
  try {
    return await work(service);
  } finally {
    await service.stop();
  }
}

describe("offline limit flags are checked before the data directory is opened", () => {
  it.each([
    ["merchant add with three of the four limits", () => merchantAddCommand(["--merchant-id", "m1", "--currency", "EUR", ...limitFlags.slice(0, 6), "--data-dir", dataDir])],
    [
      "merchant add with a count above the contract's",
      () => merchantAddCommand(["--merchant-id", "m1", "--currency", "EUR", ...limitFlags.slice(0, 4), "--offline-count-max", String(contract.offlineCountMax + 1), ...limitFlags.slice(6), "--data-dir", dataDir]),
    ],
    ["merchant set-offline with neither limits nor --off", () => merchantSetOfflineCommand(["--merchant-id", "m1", "--data-dir", dataDir])],
    ["merchant set-offline with both", () => merchantSetOfflineCommand(["--merchant-id", "m1", "--off", ...limitFlags, "--data-dir", dataDir])],
  ])("%s: ConfigInvalid", async (_, command) => {
    expect(await codeOf(command)).toBe(ErrorCode.ConfigInvalid);
    expect(existsSync(join(dataDir, "ledger.sqlite"))).toBe(false);
  });

  it("offline losses refuses a data directory without a settlement database, and does not create one", async () => {
    const missing = join(dataDir, "mistyped");

    expect(await codeOf(() => offlineLossesCommand(["--data-dir", missing]))).toBe(ErrorCode.DataDirUnusable);
    expect(existsSync(missing)).toBe(false);
  });
});

describe("offline administration on a data directory", () => {
  it("adds a merchant with limits, changes and stops them", async () => {
    await merchantAddCommand(["--merchant-id", "m1", "--currency", "EUR", ...limitFlags, "--data-dir", dataDir]);
    await merchantSetOfflineCommand(["--merchant-id", "m1", ...limitFlags.slice(0, 4), "--offline-count-max", "9", ...limitFlags.slice(6), "--data-dir", dataDir]);
    const changed = await withService(async (service) => service.registry.getMerchant("m1").offlineLimits);
    await merchantSetOfflineCommand(["--merchant-id", "m1", "--off", "--data-dir", dataDir]);
    const stopped = await withService(async (service) => service.registry.getMerchant("m1").offlineLimits);

    expect(changed).toEqual({ ...floor, countMax: 9 });
    expect(stopped).toBeUndefined();
    expect(printed).toHaveLength(3);
  });

  it("lists each declined offline sale once, for one merchant or all", async () => {
    await merchantAddCommand(["--merchant-id", "m1", "--currency", "EUR", ...limitFlags, "--data-dir", dataDir]);
    await merchantAddCommand(["--merchant-id", "m2", "--currency", "EUR", "--data-dir", dataDir]);
    const lost = await withService(async (service) => {
      const clock = new ManualClock();
      const random = new SeededRandom(7);
      const hubKeys = generateP256();
      const walletKeys = generateP256();
      service.registry.enrollHub({ hubId: "h1", merchantId: "m1", publicKeyPem: publicKeyPem(hubKeys.publicKey), certificateSerial: "01" });
      service.registry.enrollWallet({ walletId: "w1", publicKeyPem: publicKeyPem(walletKeys.publicKey), currency: "EUR", perPaymentMaxMinor: 5_000 });
      const hub = new TestHub("h1", "m1", hubKeys, clock, random);
      const wallet = new TestWallet("w1", "EUR", walletKeys, clock, random);
      // w1 was never funded: the hub's offline sale cannot be paid and becomes m1's loss.
      const forward = hub.offlineCapture(wallet, 300, floor);
      await service.handle({ kind: "hub", id: "h1", payload: forward.bytes });
      return forward.body.requestId;
    });
    printed.length = 0;

    await offlineLossesCommand(["--data-dir", dataDir]);
    const all = printed.map((line) => line.split("\t"));
    printed.length = 0;
    await offlineLossesCommand(["--merchant-id", "m2", "--data-dir", dataDir]);

    expect(all).toHaveLength(1);
    expect(all[0]!.slice(1, 4)).toEqual(["h1", lost, "merchant m1"]);
    expect(all[0]![6]).toMatch(new RegExp(`^E${ErrorCode.InsufficientFunds} `));
    expect(printed).toEqual([]);
  });
});

describe("tapwire binary", () => {
  it("routes offline losses through its command table", async () => {
    const missing = await runCli(["offline", "losses", "--data-dir", join(dataDir, "none")]);

    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`E${ErrorCode.DataDirUnusable}`);
  });
});
