import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { withAdmin } from "../../cli/admin.ts";
import { csvHeader, ledgerBalancesCommand, ledgerExportCommand, ledgerShowCommand } from "../../cli/ledger.ts";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256, publicKeyPem } from "../../protocol/keys.ts";
import { captureStdout, codeOf } from "../support/cli.ts";

let dataDir: string;
let printed: string[];

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "tapwire-ledger-cli-"));
  await withAdmin(
    dataDir,
    (service) => {
      service.registry.enrollMerchant({ merchantId: "m1", currency: "EUR" });
      service.registry.enrollMerchant({ merchantId: "m2", currency: "JPY" });
      service.registry.enrollWallet({ walletId: "w1", publicKeyPem: publicKeyPem(generateP256().publicKey), currency: "EUR", perPaymentMaxMinor: 5_000 });
      service.registry.fundWallet("w1", 10_000);
      // A reference with a comma and a quote, as CSV must carry any text a reference may hold.
      service.ledger.postTransfer({ debitAccountId: walletAccountId("w1"), creditAccountId: merchantAccountId("m1"), amountMinor: 1_250, currency: "EUR", kind: "payment", reference: 'h1/req-1,"a"' });
    },
    "create",
  );
  printed = captureStdout();
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("tapwire ledger", () => {
  it("balances: every account with its balance in minor units, currency and money; they sum to zero per currency", async () => {
    expect(await ledgerBalancesCommand(["--data-dir", dataDir])).toBe(0);

    const rows = printed.join("").trim().split("\n").map((line) => line.split("\t"));
    expect(rows).toEqual([
      ["funding:EUR", "-10000", "EUR", "-100.00 EUR"],
      ["merchant:m1", "1250", "EUR", "12.50 EUR"],
      ["merchant:m2", "0", "JPY", "0 JPY"],
      ["wallet:w1", "8750", "EUR", "87.50 EUR"],
    ]);
    expect(rows.filter((row) => row[2] === "EUR").reduce((sum, row) => sum + Number(row[1]), 0)).toBe(0);
  });

  it("show: one transfer; an unknown one is LedgerTransferMissing, a non-number ConfigInvalid", async () => {
    expect(await ledgerShowCommand(["2", "--data-dir", dataDir])).toBe(0);
    const missing = await codeOf(() => ledgerShowCommand(["99", "--data-dir", dataDir]));
    const notNumber = await codeOf(() => ledgerShowCommand(["two", "--data-dir", dataDir]));

    expect(printed.join("")).toMatch(/^transfer 2: payment 12\.50 EUR\n {2}reference h1\/req-1,"a"\n {2}from wallet:w1 to merchant:m1\n {2}amount 1250 EUR/);
    expect([missing, notNumber]).toEqual([ErrorCode.LedgerTransferMissing, ErrorCode.ConfigInvalid]);
  });

  it("export --csv: a header and every transfer oldest first, amounts in minor units with their currency, fields quoted as needed", async () => {
    expect(await ledgerExportCommand(["--csv", "--data-dir", dataDir])).toBe(0);

    const lines = printed.join("").trim().split("\n");
    expect(lines[0]).toBe(csvHeader);
    expect(lines.slice(1).map((line) => line.replace(/^(\d+),[^,]+,/, "$1,TIME,"))).toEqual([
      "1,TIME,funding,funding/w1,funding:EUR,wallet:w1,10000,EUR",
      '2,TIME,payment,"h1/req-1,""a""",wallet:w1,merchant:m1,1250,EUR',
    ]);
  });

  it("export --out writes a new file and keeps an existing one; no format is ConfigInvalid", async () => {
    const out = join(dataDir, "transfers.csv");
    const existing = join(dataDir, "existing.csv");
    writeFileSync(existing, "keep me\n");
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);

    expect(await ledgerExportCommand(["--csv", "--out", out, "--data-dir", dataDir])).toBe(0);
    const refused = await codeOf(() => ledgerExportCommand(["--csv", "--out", existing, "--data-dir", dataDir]));
    const noFormat = await codeOf(() => ledgerExportCommand(["--data-dir", dataDir]));

    expect(readFileSync(out, "utf8").split("\n")).toHaveLength(4);
    expect(readFileSync(existing, "utf8")).toBe("keep me\n");
    expect([refused, noFormat]).toEqual([ErrorCode.ConfigInvalid, ErrorCode.ConfigInvalid]);
  });
});
