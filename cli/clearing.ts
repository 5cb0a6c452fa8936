import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BankAccount } from "../broker/clearing/bank-account.ts";
import { Clearing, type ClearingResult } from "../broker/clearing/clearing.ts";
import { utcDay } from "../broker/clearing/clearing-date.ts";
import { EvidenceStore } from "../broker/evidence/evidence-store.ts";
import { feeBpsMax, feeFixedMinorMax, type FeeSchedule } from "../broker/clearing/fees.ts";
import { payoutMinorOf } from "../broker/clearing/payout-evidence.ts";
import { makeDirectories } from "../core/data-dir.ts";
import { systemClock } from "../core/sources.ts";
import { formatMoney } from "../protocol/money.ts";
import { errorCodeName, isTapwireError, type TapwireError } from "../protocol/errors.ts";
import { exitCodeOf, exitCodes } from "./exit-codes.ts";
import { dataDirFlag, withAdmin } from "./admin.ts";
import { integerFlag, parseFlags, requireFlag } from "./args.ts";

export const clearingUsage = `tapwire clearing fees --merchant M [--bps N --fixed-minor N] [--data-dir .tapwire]
  Shows, or sets, what the merchant pays per approved payment: N basis points of its amount, rounded half-up to
  the currency's minor unit per payment, plus a fixed part in minor units; never more than the payment. Refunds
  and reversals give no fee back.
  example: tapwire clearing fees --merchant m1 --bps 150 --fixed-minor 10
tapwire clearing payee --merchant M [--name NAME --iban IBAN --bic BIC] [--data-dir .tapwire]
  Shows, or sets, the merchant's business bank account its payouts are credited to (IBAN mod-97 checked).
  example: tapwire clearing payee --merchant m1 --name "Cafe Rita" --iban DE89370400440532013000 --bic COBADEFFXXX
tapwire clearing debtor [--name NAME --iban IBAN --bic BIC] [--data-dir .tapwire]
  Shows, or sets, the operator's bank account every payout is paid from (the debtor of the pain.001 files).
  example: tapwire clearing debtor --name "Tapwire Payments" --iban GB82WEST12345698765432 --bic NWBKGB2LXXX
tapwire clearing run --date YYYY-MM-DD --out DIR [--merchant M] [--data-dir .tapwire]
  Clears each merchant's (or M's) ledger movements of that UTC day, once the day has ended: sales and campaign
  contributions less refunds, reversals, dispute refunds and campaign returns, less amounts of newly disputed
  payments (held until decided), less fees. Posts the fees and the net payout from the merchant's account in one
  transaction, records the run in the evidence chain (a payout merchant event) and writes DIR/M-DATE.csv, the
  ISO 20022 DIR/M-DATE.pain.001.xml (when something is paid out) and DIR/M-DATE.reconciliation.json (each payout
  tied to the transfers it nets). A negative net pays nothing and is carried into the merchant's next run. Running
  a day again posts nothing and writes the same files. Without --merchant, a merchant that cannot be cleared (no fee
  schedule, no payee) is listed as not cleared with its code and the others are cleared; the exit code is then 1.
  example: tapwire clearing run --date 2026-11-23 --out settlement-files`;

const accountFlags = { name: { type: "string" }, iban: { type: "string" }, bic: { type: "string" } } as const;

function accountFrom(values: { name?: string | undefined; iban?: string | undefined; bic?: string | undefined }): BankAccount | undefined {
  const given = [values.name, values.iban, values.bic].filter((v) => v !== undefined).length;
  if (given === 0) return undefined;
  return { name: requireFlag(values.name, "name"), iban: requireFlag(values.iban, "iban"), bic: requireFlag(values.bic, "bic") };
}

function accountLine(account: BankAccount | undefined): string {
  return account ? `${account.name}  ${account.iban}  ${account.bic}` : "not set";
}

function withClearing<T>(dataDir: string, work: (clearing: Clearing) => T): Promise<T> {
  return withAdmin(dataDir, (service) => {
    const db = service.database;
    return work(new Clearing({ db, ledger: service.ledger, registry: service.registry, evidence: new EvidenceStore(db), clock: systemClock }));
  });
}

export async function clearingFeesCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, merchant: { type: "string" }, bps: { type: "string" }, "fixed-minor": { type: "string" } });
  const merchantId = requireFlag(values.merchant, "merchant");
  const setting = values.bps !== undefined || values["fixed-minor"] !== undefined;
  const schedule: FeeSchedule | undefined = setting
    ? { bps: integerFlag(values.bps, "bps", 0, feeBpsMax), fixedMinor: integerFlag(values["fixed-minor"], "fixed-minor", 0, feeFixedMinorMax) }
    : undefined;
  const shown = await withClearing(values["data-dir"], (clearing) => {
    return schedule ? clearing.setFees(merchantId, schedule) : clearing.feesOf(merchantId);
  });
  process.stdout.write(`${merchantId}  ${shown ? `${shown.bps} bps + ${shown.fixedMinor} minor units per payment` : "no fee schedule"}\n`);
  return 0;
}

export async function clearingPayeeCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, merchant: { type: "string" }, ...accountFlags });
  const merchantId = requireFlag(values.merchant, "merchant");
  const account = accountFrom(values);
  const shown = await withClearing(values["data-dir"], (clearing) => {
    return account ? clearing.setPayee(merchantId, account) : clearing.payeeOf(merchantId);
  });
  process.stdout.write(`${merchantId}  ${accountLine(shown)}\n`);
  return 0;
}

export async function clearingDebtorCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, ...accountFlags });
  const account = accountFrom(values);
  const shown = await withClearing(values["data-dir"], (clearing) => (account ? clearing.setDebtor(account) : clearing.debtor()));
  process.stdout.write(`debtor  ${accountLine(shown)}\n`);
  return 0;
}

export async function clearingRunCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, date: { type: "string" }, merchant: { type: "string" }, out: { type: "string" } });
  const date = utcDay(requireFlag(values.date, "date")).date;
  const outDir = requireFlag(values.out, "out");
  const refused: TapwireError[] = [];
  const lines = await withClearing(values["data-dir"], (clearing) => {
    const merchantIds = values.merchant !== undefined ? [values.merchant] : clearing.merchantIds();
    return merchantIds.map((merchantId) => {
      try {
        const result = clearing.run(merchantId, date);
        if (result.outcome !== "empty") writeRunFiles(outDir, result, clearing);
        return resultLine(result);
      } catch (error) {
        // One merchant's refusal (no fee schedule, no payee) does not stop the others' runs: each is its own
        // transaction. Asked for one merchant, the refusal is the command's own.
        if (values.merchant !== undefined || !isTapwireError(error)) throw error;
        refused.push(error);
        return `${merchantId}  ${date}  not cleared: E${error.code} ${errorCodeName(error.code)}: ${error.message}`;
      }
    });
  });
  for (const line of lines) process.stdout.write(`${line}\n`);
  return refused.length === 0 ? exitCodes.ok : exitCodeOf(refused[0]!);
}

/** Writes the run's files into outDir: the same bytes whenever the same run is written. */
function writeRunFiles(outDir: string, result: Exclude<ClearingResult, { outcome: "empty" }>, clearing: Clearing): void {
  const { run } = result;
  const files = clearing.filesOf(run);
  makeDirectories(outDir, { mode: 0o700, what: "--out folder" });
  const stem = join(outDir, `${run.merchantId}-${run.businessDate}`);
  writeFileSync(`${stem}.csv`, files.csv);
  writeFileSync(`${stem}.reconciliation.json`, files.reconciliation);
  if (files.pain001 !== undefined) writeFileSync(`${stem}.pain.001.xml`, files.pain001);
}

function resultLine(result: ClearingResult): string {
  if (result.outcome === "empty") return `${result.merchantId}  ${result.businessDate}  nothing to clear: no movements, holds or carried amounts`;
  const { run, replayed } = result;
  const money = (amountMinor: number) => formatMoney({ amountMinor, currency: run.currency });
  const again = replayed ? "  (cleared before: nothing posted now)" : "";
  if (run.outcome === "negative_net") {
    return `${run.merchantId}  ${run.businessDate}  negative net ${money(run.figures.netMinor)}: no payout, carried into the next run${again}`;
  }
  return `${run.merchantId}  ${run.businessDate}  payout ${money(payoutMinorOf(run))}  fees ${money(run.figures.feesMinor)}${again}`;
}
