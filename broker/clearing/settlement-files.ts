import { assert } from "../../core/assert.ts";
import { currencyExponents } from "../../protocol/money.ts";
import type { BankAccount } from "./bank-account.ts";
import type { ClearingRun, DisputeHold, RunTransfer } from "./clearing-store.ts";
import type { Transfer } from "../ledger/ledger.ts";
import { msgIdOf, payoutMinorOf } from "./payout-evidence.ts";
import type { RunFigures } from "./run-figures.ts";

/**
 * A clearing run's files, rendered from its record alone (never from the clock or the current settings), so a
 * rerun for the same (merchant, day) writes the same bytes: the human CSV statement, the pain.001.001.03 credit
 * transfer (only when something is paid out) and the reconciliation report.
 */
export interface SettlementFiles {
  csv: string;
  /** Absent when the run pays nothing out (net 0, or negative and carried). */
  pain001: string | undefined;
  reconciliation: string;
}

/** What the reconciliation needs beside the run: the transfers it netted and posted, the holds it took and released. */
export interface RunLinks {
  transfers: ReadonlyArray<RunTransfer & { transfer: Transfer }>;
  held: readonly DisputeHold[];
  released: readonly DisputeHold[];
  carriedFromRunIds: readonly number[];
}

/** Minor units as the decimal a bank file carries, by the currency's exponent: 1234 EUR → "12.34", 1234 JPY → "1234". */
export function decimalOf(amountMinor: number, currency: string): string {
  const exponent = currencyExponents[currency] ?? 2;
  const sign = amountMinor < 0 ? "-" : "";
  const digits = Math.abs(amountMinor).toString().padStart(exponent + 1, "0");
  return exponent === 0 ? `${sign}${digits}` : `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

export function renderFiles(run: ClearingRun, links: RunLinks): SettlementFiles {
  return { csv: statementCsv(run), pain001: payoutMinorOf(run) > 0 ? pain001Xml(run) : undefined, reconciliation: reconciliationJson(run, links) };
}

const csvColumns: ReadonlyArray<[string, (r: ClearingRun) => string]> = [
  ["merchant_id", (r) => r.merchantId],
  ["business_date", (r) => r.businessDate],
  ["currency", (r) => r.currency],
  ["outcome", (r) => r.outcome],
  ["payments", (r) => String(r.figures.payments)],
  ...(
    [
      ["sales", "salesMinor"],
      ["campaign_contributions", "campaignContributionsMinor"],
      ["refunds", "refundsMinor"],
      ["reversals", "reversalsMinor"],
      ["dispute_refunds", "disputeRefundsMinor"],
      ["campaign_returns", "campaignReturnsMinor"],
      ["other", "otherMinor"],
      ["dispute_holds", "disputeHoldsMinor"],
      ["holds_released", "holdsReleasedMinor"],
      ["carried_in", "carriedInMinor"],
      ["fees", "feesMinor"],
      ["net", "netMinor"],
    ] as const
  ).map(([name, key]): [string, (r: ClearingRun) => string] => [name, (r) => decimalOf(r.figures[key as keyof Omit<RunFigures, "currency">], r.currency)]),
  ["payout", (r) => decimalOf(payoutMinorOf(r), r.currency)],
  ["payee_iban", (r) => (payoutMinorOf(r) > 0 ? (r.payee?.iban ?? "") : "")],
  ["msg_id", (r) => (payoutMinorOf(r) > 0 ? msgIdOf(r) : "")],
];

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One header line and one line for the run; amounts as decimals of the currency, deductions as positive amounts. */
export function statementCsv(run: ClearingRun): string {
  const header = csvColumns.map(([name]) => name).join(",");
  const line = csvColumns.map(([, value]) => csvField(value(run))).join(",");
  return `${header}\n${line}\n`;
}

function xmlText(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

/** CreationDateTime: the run's recorded time, whole seconds, UTC. */
function creationDateTime(createdAtMs: number): string {
  return `${new Date(createdAtMs).toISOString().slice(0, 19)}Z`;
}

function party(tag: string, account: BankAccount, indent: string): string[] {
  return [`${indent}<${tag}>`, `${indent}  <Nm>${xmlText(account.name)}</Nm>`, `${indent}</${tag}>`];
}

function cashAccount(tag: string, iban: string, indent: string, currency?: string): string[] {
  return [`${indent}<${tag}>`, `${indent}  <Id>`, `${indent}    <IBAN>${iban}</IBAN>`, `${indent}  </Id>`, ...(currency ? [`${indent}  <Ccy>${currency}</Ccy>`] : []), `${indent}</${tag}>`];
}

function agent(tag: string, bic: string, indent: string): string[] {
  return [`${indent}<${tag}>`, `${indent}  <FinInstnId>`, `${indent}    <BIC>${bic}</BIC>`, `${indent}  </FinInstnId>`, `${indent}</${tag}>`];
}

/**
 * ISO 20022 pain.001.001.03: one group, one payment instruction, one credit transfer of the net to the merchant's
 * payee account from the operator's. EUR goes as SEPA (service level SEPA, charges SLEV); other currencies carry no
 * service level. Requested execution date: the day the run was made.
 */
export function pain001Xml(run: ClearingRun): string {
  const { payee, debtor } = run;
  assert(payee && debtor, `run ${run.runId} pays out but has no payee or debtor recorded`);
  const amount = decimalOf(payoutMinorOf(run), run.currency);
  const msgId = msgIdOf(run);
  const sepa = run.currency === "EUR";
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03">',
    "  <CstmrCdtTrfInitn>",
    "    <GrpHdr>",
    `      <MsgId>${msgId}</MsgId>`,
    `      <CreDtTm>${creationDateTime(run.createdAtMs)}</CreDtTm>`,
    "      <NbOfTxs>1</NbOfTxs>",
    `      <CtrlSum>${amount}</CtrlSum>`,
    ...party("InitgPty", debtor, "      "),
    "    </GrpHdr>",
    "    <PmtInf>",
    `      <PmtInfId>${msgId}</PmtInfId>`,
    "      <PmtMtd>TRF</PmtMtd>",
    "      <BtchBookg>false</BtchBookg>",
    "      <NbOfTxs>1</NbOfTxs>",
    `      <CtrlSum>${amount}</CtrlSum>`,
    ...(sepa ? ["      <PmtTpInf>", "        <SvcLvl>", "          <Cd>SEPA</Cd>", "        </SvcLvl>", "      </PmtTpInf>"] : []),
    `      <ReqdExctnDt>${new Date(run.createdAtMs).toISOString().slice(0, 10)}</ReqdExctnDt>`,
    ...party("Dbtr", debtor, "      "),
    ...cashAccount("DbtrAcct", debtor.iban, "      ", run.currency),
    ...agent("DbtrAgt", debtor.bic, "      "),
    ...(sepa ? ["      <ChrgBr>SLEV</ChrgBr>"] : []),
    "      <CdtTrfTxInf>",
    "        <PmtId>",
    `          <EndToEndId>${msgId}</EndToEndId>`,
    "        </PmtId>",
    "        <Amt>",
    `          <InstdAmt Ccy="${run.currency}">${amount}</InstdAmt>`,
    "        </Amt>",
    ...agent("CdtrAgt", payee.bic, "        "),
    ...party("Cdtr", payee, "        "),
    ...cashAccount("CdtrAcct", payee.iban, "        "),
    "        <RmtInf>",
    `          <Ustrd>${xmlText(`tapwire payout ${run.businessDate} ${run.merchantId}`.slice(0, 140))}</Ustrd>`,
    "        </RmtInf>",
    "      </CdtTrfTxInf>",
    "    </PmtInf>",
    "  </CstmrCdtTrfInitn>",
    "</Document>",
  ];
  return `${lines.join("\n")}\n`;
}

/**
 * The payout line tied to the transfers it nets, each signed for the merchant (credits positive), and to the fee
 * and payout transfers it posted. Ties out: Σ netted − holds + released + carried in = payout + fees (paid), or
 * = net + fees carried out (negative_net).
 */
export function reconciliationJson(run: ClearingRun, links: RunLinks): string {
  const account = `merchant:${run.merchantId}`;
  const netted = links.transfers
    .filter((t) => t.role === "netted")
    .map(({ transfer: t }) => ({
      transferId: t.transferId,
      kind: t.kind,
      reference: t.reference,
      signedMinor: t.creditAccountId === account ? t.amountMinor : -t.amountMinor,
      postedAtMs: t.postedAtMs,
    }));
  const posted = links.transfers.filter((t) => t.role !== "netted").map(({ role, transfer: t }) => ({ role, transferId: t.transferId, amountMinor: t.amountMinor, creditAccountId: t.creditAccountId }));
  const report = {
    format: "tapwire-clearing-reconciliation-v1",
    runId: run.runId,
    merchantId: run.merchantId,
    businessDate: run.businessDate,
    currency: run.currency,
    outcome: run.outcome,
    msgId: payoutMinorOf(run) > 0 ? msgIdOf(run) : null,
    payoutMinor: payoutMinorOf(run),
    feesMinor: run.outcome === "paid" ? run.figures.feesMinor : 0,
    figures: run.figures,
    netted,
    posted,
    disputeHolds: links.held.map((h) => ({ caseId: h.caseId, paymentId: h.paymentId, amountMinor: h.amountMinor })),
    holdsReleased: links.released.map((h) => ({ caseId: h.caseId, paymentId: h.paymentId, amountMinor: h.amountMinor, heldByRunId: h.heldByRunId })),
    carriedFromRunIds: links.carriedFromRunIds,
  };
  return `${JSON.stringify(report, null, 2)}\n`;
}
