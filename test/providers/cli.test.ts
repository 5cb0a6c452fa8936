import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { withAdmin } from "../../cli/admin.ts";
import { merchantAddCommand, walletEnrollCommand } from "../../cli/enroll.ts";
import { fxListCommand, fxLoadCommand } from "../../cli/fx.ts";
import { providerEnrollCommand, providerListCommand } from "../../cli/provider.ts";
import { providerAccountId } from "../../broker/ledger/ledger.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { captureStdout, codeOf } from "../support/cli.ts";

let dataDir: string;
let printed: string[];

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "tapwire-provider-cli-"));
  printed = captureStdout();
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dataDir, { recursive: true, force: true });
});

const fromMs = Date.UTC(2026, 0, 1);
const toMs = Date.UTC(2027, 0, 1);

describe("tapwire fx", () => {
  it("loads a JSON and a CSV rate file and lists what is loaded", async () => {
    const json = join(dataDir, "rates.json");
    const csv = join(dataDir, "rates.csv");
    writeFileSync(json, JSON.stringify({ rates: [{ base: "EUR", quote: "JPY", rate: "162.53", fromMs, toMs, source: "ecb" }] }));
    writeFileSync(csv, `base,quote,rate,fromMs,toMs,source,rounding\nEUR,KWD,0.3345,2026-01-01T00:00:00Z,2027-01-01T00:00:00Z,cbk,half_up\n`);

    expect(await codeOf(() => fxLoadCommand([json, "--data-dir", dataDir]))).toBe(0);
    expect(await codeOf(() => fxLoadCommand([csv, "--data-dir", dataDir]))).toBe(0);
    printed.length = 0;
    await fxListCommand(["--data-dir", dataDir]);

    expect(printed.join("")).toBe(
      "EUR/JPY 162.53 half_even [2026-01-01T00:00:00.000Z, 2027-01-01T00:00:00.000Z) ecb\n" +
        "EUR/KWD 0.3345 half_up [2026-01-01T00:00:00.000Z, 2027-01-01T00:00:00.000Z) cbk\n",
    );
    const rate = await withAdmin(dataDir, (service) => service.fxRates.rateAt("EUR", "KWD", fromMs));
    expect(rate).toMatchObject({ rate: "0.3345", fromMs, toMs });
  });

  it.each([
    ["a rate as a JSON number (a float)", JSON.stringify([{ base: "EUR", quote: "JPY", rate: 162.53, fromMs, toMs, source: "x" }])],
    ["an empty window", JSON.stringify([{ base: "EUR", quote: "JPY", rate: "162.53", fromMs: toMs, toMs, source: "x" }])],
    ["an unknown rounding", JSON.stringify([{ base: "EUR", quote: "JPY", rate: "162.53", fromMs, toMs, source: "x", rounding: "up" }])],
    ["no rates", "[]"],
    ["not JSON", "EUR JPY 162"],
  ])("refuses %s with FxRateInvalid and loads nothing", async (_, content) => {
    const file = join(dataDir, "bad.json");
    writeFileSync(file, content);
    await merchantAddCommand(["--merchant-id", "m1", "--currency", "EUR", "--data-dir", dataDir]);

    expect(await codeOf(() => fxLoadCommand([file, "--data-dir", dataDir]))).toBe(ErrorCode.FxRateInvalid);
    expect(await withAdmin(dataDir, (service) => service.fxRates.list(10))).toEqual([]);
  });
});

describe("tapwire provider", () => {
  it("enrolls a provider with its certificate, a wallet it holds, and lists it", async () => {
    const out = join(dataDir, "p-out");
    expect(await codeOf(() => providerEnrollCommand(["--provider-id", "jp-pay", "--currency", "JPY", "--out", out, "--data-dir", dataDir]))).toBe(0);
    expect(await codeOf(() => walletEnrollCommand(["--wallet-id", "jp1", "--currency", "JPY", "--per-payment-max-minor", "50000", "--provider", "jp-pay", "--data-dir", dataDir]))).toBe(0);
    printed.length = 0;
    await providerListCommand(["--data-dir", dataDir]);

    expect(printed.join("")).toBe("jp-pay JPY active\n");
    expect(["cert.pem", "key.pem", "ca.pem", "service.pub.pem"].map((f) => existsSync(join(out, f)))).toEqual([true, true, true, true]);
    const state = await withAdmin(dataDir, (service) => ({ holder: service.providers.providerOf("jp1"), account: service.ledger.findAccount(providerAccountId("jp-pay")) }));
    expect(state).toMatchObject({ holder: "jp-pay", account: { currency: "JPY", balanceMinor: 0 } });
  });

  it("refuses a second provider under the same id, and a provider's wallet in another currency", async () => {
    await providerEnrollCommand(["--provider-id", "jp-pay", "--currency", "JPY", "--data-dir", dataDir]);

    expect(await codeOf(() => providerEnrollCommand(["--provider-id", "jp-pay", "--currency", "JPY", "--data-dir", dataDir]))).toBe(ErrorCode.ProviderAlreadyEnrolled);
    expect(await codeOf(() => walletEnrollCommand(["--wallet-id", "e1", "--currency", "EUR", "--per-payment-max-minor", "500", "--provider", "jp-pay", "--data-dir", dataDir]))).toBe(ErrorCode.CurrencyMismatch);
    expect(await codeOf(() => walletEnrollCommand(["--wallet-id", "e2", "--currency", "JPY", "--per-payment-max-minor", "500", "--provider", "nobody", "--data-dir", dataDir]))).toBe(ErrorCode.UnknownProvider);
  });
});
