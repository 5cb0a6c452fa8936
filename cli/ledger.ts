import { once } from "node:events";
import { open } from "node:fs/promises";
import type { Writable } from "node:stream";
import type { Account, Ledger, Transfer } from "../broker/ledger/ledger.ts";
import { accountsListMax, transfersListMax } from "../broker/ledger/sqlite-ledger.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { formatMoney } from "../protocol/money.ts";
import { dataDirFlag, withAdmin } from "./admin.ts";
import { integerFlag, parseFlags, requireFlag } from "./args.ts";

export const ledgerUsage = `tapwire ledger balances [--data-dir .tapwire]
  Every account (funding, wallet, merchant, campaign) with its balance, one a line: account, balance in minor
  units, currency, the same as money. Balances sum to zero per currency.
  example: tapwire ledger balances --data-dir .tapwire
tapwire ledger show TRANSFER [--data-dir .tapwire]
  One transfer (its id from \`ledger export\`): kind, reference (hub/request), debit and credit accounts, amount.
  example: tapwire ledger show 3
tapwire ledger export --csv [--out FILE] [--data-dir .tapwire]
  Every transfer, oldest first, as CSV with a header: transfer_id, posted_at, kind, reference, debit_account,
  credit_account, amount_minor, currency. To stdout unless --out.
  example: tapwire ledger export --csv --out transfers.csv`;

export const csvHeader = "transfer_id,posted_at,kind,reference,debit_account,credit_account,amount_minor,currency";

function accountLine(account: Account): string {
  return [account.accountId, account.balanceMinor, account.currency, formatMoney({ amountMinor: account.balanceMinor, currency: account.currency })].join("\t");
}

export async function ledgerBalancesCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, dataDirFlag);
  const accounts = await withAdmin(values["data-dir"], (service) => service.ledger.accounts(accountsListMax));
  for (const account of accounts) process.stdout.write(`${accountLine(account)}\n`);
  if (accounts.length === 0) process.stdout.write("no accounts\n");
  return 0;
}

export async function ledgerShowCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, dataDirFlag);
  const transferId = integerFlag(requireFlag(positionals[0], "transfer (positional)"), "transfer (positional)", 1, Number.MAX_SAFE_INTEGER);
  const transfer = await withAdmin(values["data-dir"], (service) => service.ledger.findTransfer(transferId));
  if (!transfer) throw new TapwireError(`no transfer ${transferId}`, ErrorCode.LedgerTransferMissing, { transferId });
  const money = formatMoney({ amountMinor: transfer.amountMinor, currency: transfer.currency });
  process.stdout.write(
    [
      `transfer ${transfer.transferId}: ${transfer.kind} ${money}`,
      `  reference ${transfer.reference}`,
      `  from ${transfer.debitAccountId} to ${transfer.creditAccountId}`,
      `  amount ${transfer.amountMinor} ${transfer.currency} (minor units)`,
      `  posted ${new Date(transfer.postedAtMs).toISOString()}`,
    ].join("\n") + "\n",
  );
  return 0;
}

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvLine(t: Transfer): string {
  return [t.transferId, new Date(t.postedAtMs).toISOString(), t.kind, t.reference, t.debitAccountId, t.creditAccountId, t.amountMinor, t.currency].map(csvField).join(",");
}

async function writeLine(out: Writable, line: string): Promise<void> {
  if (!out.write(`${line}\n`)) await once(out, "drain");
}

/** Pages through the ledger (bounded by its transfer count), so an export of any size holds one page in memory. */
async function exportTransfers(ledger: Ledger, out: Writable): Promise<number> {
  await writeLine(out, csvHeader);
  const pagesMax = Math.ceil(ledger.transferCount() / transfersListMax) + 1;
  let after = 0;
  let written = 0;
  for (let page = 0; page < pagesMax; page++) {
    const transfers = ledger.transfersAfter(after, transfersListMax);
    if (transfers.length === 0) break;
    for (const transfer of transfers) await writeLine(out, csvLine(transfer));
    written += transfers.length;
    after = transfers.at(-1)!.transferId;
  }
  return written;
}

/** A new file for the export; an existing one is kept (E800), as is one that cannot be made. */
async function openNew(path: string) {
  try {
    return await open(path, "wx");
  } catch (error) {
    throw new TapwireError(`--out: cannot create ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, ErrorCode.ConfigInvalid, { path });
  }
}

export async function ledgerExportCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, csv: { type: "boolean", default: false }, out: { type: "string" } });
  if (!values.csv) throw new TapwireError("ledger export needs its format: --csv", ErrorCode.ConfigInvalid);
  const outPath = values.out;
  let out: Writable = process.stdout;
  const written = await withAdmin(values["data-dir"], async (service) => {
    if (outPath !== undefined) out = (await openNew(outPath)).createWriteStream();
    return exportTransfers(service.ledger, out);
  });
  if (outPath !== undefined) {
    out.end();
    await once(out, "finish");
    process.stderr.write(`${written} transfers written to ${outPath}\n`);
  }
  return 0;
}
