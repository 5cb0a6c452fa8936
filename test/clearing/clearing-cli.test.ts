import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { clearingDebtorCommand, clearingFeesCommand, clearingPayeeCommand, clearingRunCommand } from "../../cli/clearing.ts";
import { merchantEventsCommand } from "../../cli/merchant-events.ts";
import { ledgerFileName } from "../../core/data-dir.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { SettlementFixture } from "../settlement/fixtures.ts";
import { approvedPayment } from "../settlement/preamble.ts";
import { captureStdout, codeOf } from "../support/cli.ts";
import { debtor, payee, xmllintValidate } from "./fixtures.ts";

let dataDir: string;
let printed: string[];

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "tapwire-clearing-cli-"));
  printed = captureStdout();
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * A data dir whose database holds m1's payments of 2026-11-23 (the fixture's day), made through the service, and with
 * `secondMerchant` one payment at m2 too.
 */
async function dataDirWithPayments(secondMerchant = false): Promise<void> {
  const f = await SettlementFixture.create();
  try {
    await approvedPayment(f, 1_000);
    const refunded = await approvedPayment(f, 2_500);
    expect((await f.decisionFor(f.hub, f.hub.refund(refunded, 500, "EUR").bytes)).status).toBe("approved");
    if (secondMerchant) {
      f.service.registry.enrollMerchant({ merchantId: "m2", currency: "EUR" });
      const m2 = f.enrollHub("h-m2", "m2");
      expect((await f.decisionFor(m2, m2.paymentRequest(f.wallet, 400).bytes)).status).toBe("approved");
    }
    await f.service.stop();
    copyFileSync(f.databasePath, join(dataDir, ledgerFileName));
  } finally {
    await f.close();
  }
}

describe("tapwire clearing", () => {
  it("run twice writes byte-identical files, posts once, and the pain.001 on disk validates", async () => {
    await dataDirWithPayments();
    const flags = ["--data-dir", dataDir];
    await clearingFeesCommand(["--merchant", "m1", "--bps", "150", "--fixed-minor", "10", ...flags]);
    await clearingPayeeCommand(["--merchant", "m1", "--name", payee.name, "--iban", payee.iban, "--bic", payee.bic, ...flags]);
    await clearingDebtorCommand(["--name", debtor.name, "--iban", debtor.iban, "--bic", debtor.bic, ...flags]);
    const out = join(dataDir, "files");
    const read = () => Object.fromEntries(readdirSync(out).map((name) => [name, readFileSync(join(out, name))]));

    await clearingRunCommand(["--date", "2026-11-23", "--out", out, "--merchant", "m1", ...flags]);
    const first = read();
    await clearingRunCommand(["--date", "2026-11-23", "--out", out, ...flags]);
    const second = read();

    const db = new Database(join(dataDir, ledgerFileName), { readonly: true });
    const posted = db.prepare("SELECT kind, amount_minor AS amountMinor FROM ledger_transfers WHERE kind IN ('clearing_fee', 'payout') ORDER BY transfer_id").all();
    db.close();
    expect(posted).toEqual([
      { kind: "clearing_fee", amountMinor: 73 },
      { kind: "payout", amountMinor: 2_927 },
    ]);
    expect(Object.keys(first).sort()).toEqual(["m1-2026-11-23.csv", "m1-2026-11-23.pain.001.xml", "m1-2026-11-23.reconciliation.json"]);
    expect(second).toEqual(first);
    // 1000 + 2500 − 500 = 3000; fees 25 + 48 (37.5 half-up + 10) = 73; paid out 29.27 EUR.
    expect(printed.join("")).toContain("m1  2026-11-23  payout 29.27 EUR  fees 0.73 EUR\n");
    expect(printed.join("")).toContain("m1  2026-11-23  payout 29.27 EUR  fees 0.73 EUR  (cleared before: nothing posted now)\n");
    expect(xmllintValidate(first["m1-2026-11-23.pain.001.xml"]!.toString("utf8")).code).toBe(0);
    printed.length = 0;
    await merchantEventsCommand(["--merchant", "m1", ...flags]);
    const events = printed.join("").trim().split("\n").map((line) => JSON.parse(line) as { type: string; amountMinor?: number });
    expect(events.filter((e) => e.type === "payout")).toEqual([expect.objectContaining({ type: "payout", amountMinor: 2_927, currency: "EUR" })]);
    expect(first["m1-2026-11-23.csv"]!.toString("utf8").split("\n")[1]).toBe(
      "m1,2026-11-23,EUR,paid,2,35.00,0.00,5.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.73,29.27,29.27,DE89370400440532013000,TWCLR-20261123-00000001",
    );
  });

  it("clearing every merchant, one that cannot be cleared is listed with its code and the others are cleared (exit 1)", async () => {
    await dataDirWithPayments(true);
    const flags = ["--data-dir", dataDir];
    await clearingFeesCommand(["--merchant", "m1", "--bps", "150", "--fixed-minor", "10", ...flags]);
    await clearingPayeeCommand(["--merchant", "m1", "--name", payee.name, "--iban", payee.iban, "--bic", payee.bic, ...flags]);
    await clearingDebtorCommand(["--name", debtor.name, "--iban", debtor.iban, "--bic", debtor.bic, ...flags]);

    const exit = await clearingRunCommand(["--date", "2026-11-23", "--out", join(dataDir, "files"), ...flags]);

    expect(exit).toBe(1);
    expect(printed.join("")).toContain("m1  2026-11-23  payout 29.27 EUR  fees 0.73 EUR\n");
    expect(printed.join("")).toContain(`m2  2026-11-23  not cleared: E${ErrorCode.FeeScheduleMissing} FeeScheduleMissing`);
    expect(readdirSync(join(dataDir, "files")).sort()).toEqual(["m1-2026-11-23.csv", "m1-2026-11-23.pain.001.xml", "m1-2026-11-23.reconciliation.json"]);
  });

  it("says so for a day with nothing to clear, and refuses a bad IBAN and an unknown merchant by code", async () => {
    await dataDirWithPayments();
    const flags = ["--data-dir", dataDir];

    await clearingRunCommand(["--date", "2026-11-20", "--out", join(dataDir, "files"), "--merchant", "m1", ...flags]);
    const badIban = await codeOf(() => clearingPayeeCommand(["--merchant", "m1", "--name", "X", "--iban", "DE89370400440532013001", "--bic", "COBADEFFXXX", ...flags]));
    const unknown = await codeOf(() => clearingFeesCommand(["--merchant", "nobody", ...flags]));

    expect(printed.join("")).toContain("m1  2026-11-20  nothing to clear");
    expect([badIban, unknown]).toEqual([ErrorCode.IbanInvalid, ErrorCode.UnknownMerchant]);
  });
});
