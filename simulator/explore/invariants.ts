import type { JournalSale } from "../../device/journal/hub-journal.ts";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import type { PaymentRecord } from "../../broker/settlement/settlement-store.ts";
import { isTapwireError } from "../../protocol/errors.ts";
import type { SimWorld } from "../world/world.ts";

/** A hub sale as the invariants see it: where it was sold, and what its journal says. */
interface HubSale extends JournalSale {
  hubId: string;
}

const charged = new Set<JournalSale["outcome"]>(["approved", "approved_offline"]);

/**
 * The money invariants, checked at quiescence, each a line naming what broke:
 * - every payment the service holds belongs to one hub sale, and is captured exactly when the hub says the customer
 *   was charged (approved, approved offline) and reversed otherwise; amounts agree;
 * - every sale the hub approved was captured (no approved payment lost); one approved offline was captured or is
 *   on the service's offline-loss list; none was charged twice (one payment per sale);
 * - every sale settled: no pending sale, no open request (every reversal decided) in any journal;
 * - every "approved" a hub showed was for a sale its journal had approved then and the service captured;
 * - the ledger sums to zero and each merchant's and wallet's balance is what its captured payments say;
 * - no hub machine stopped on a bug, no scheduled work of the world failed.
 */
export function checkInvariants(world: SimWorld): string[] {
  const violations = [...world.crashes.map((crash) => `hub machine crashed: ${crash}`), ...world.errors.map((error) => `world work failed: ${error}`)];
  const service = world.settlement.service;
  try {
    service.ledger.checkInvariants();
  } catch (error) {
    violations.push(`ledger: ${isTapwireError(error) ? `E${error.code}` : ""} ${String(error)}`);
  }
  const sales = hubSales(world, violations);
  const payments = world.plan.merchants.flatMap((merchant) => service.paymentsOf(merchant.merchantId));
  const losses = new Set(world.plan.merchants.flatMap((merchant) => service.offlineLosses({ merchantId: merchant.merchantId })).map((loss) => `${loss.hubId}/${loss.requestId}`));
  const paymentsBySale = new Map<string, PaymentRecord[]>();
  for (const payment of payments) {
    const key = `${payment.hubId}/${payment.requestId}`;
    paymentsBySale.set(key, [...(paymentsBySale.get(key) ?? []), payment]);
  }
  for (const [key, recorded] of paymentsBySale) {
    const sale = sales.get(key);
    if (recorded.length > 1) violations.push(`sale ${key} charged ${recorded.length} times`);
    for (const payment of recorded) checkPayment(key, payment, sale, violations);
  }
  for (const [key, sale] of sales) checkSale(key, sale, paymentsBySale.get(key)?.[0], losses.has(key), violations);
  checkShown(world, sales, paymentsBySale, violations);
  checkBalances(world, payments, violations);
  return violations;
}

function hubSales(world: SimWorld, violations: string[]): Map<string, HubSale> {
  const sales = new Map<string, HubSale>();
  for (const hub of world.hubs) {
    if (!hub.started) {
      violations.push(`hub ${hub.hubId} is not running at the end`);
      continue;
    }
    const open = hub.journal.openRequests();
    for (const request of open) violations.push(`hub ${hub.hubId} still has an open ${request.kind} ${request.requestId} (sale ${request.saleId})`);
    for (const saleId of hub.saleIds) {
      const sale = hub.journal.sale(saleId);
      if (sale === undefined) violations.push(`hub ${hub.hubId} lost sale ${saleId} from its journal`);
      else sales.set(`${hub.hubId}/${sale.paymentRequestId}`, { ...sale, hubId: hub.hubId });
    }
  }
  return sales;
}

function checkPayment(key: string, payment: PaymentRecord, sale: HubSale | undefined, violations: string[]): void {
  if (sale === undefined) return void violations.push(`payment ${key} (${payment.status}) has no sale on its hub`);
  if (payment.amountMinor !== sale.amountMinor) violations.push(`payment ${key} is ${payment.amountMinor}, its sale ${sale.amountMinor}`);
  if (payment.status === "captured" && !charged.has(sale.outcome)) violations.push(`payment ${key} captured but the hub says ${sale.outcome}`);
  if (payment.status === "reversed" && charged.has(sale.outcome)) violations.push(`payment ${key} reversed but the hub says ${sale.outcome}`);
}

function checkSale(key: string, sale: HubSale, payment: PaymentRecord | undefined, lost: boolean, violations: string[]): void {
  if (sale.outcome === "pending") violations.push(`sale ${key} never settled`);
  if (sale.outcome === "approved" && payment?.status !== "captured") violations.push(`sale ${key} approved but the service has ${payment?.status ?? "no payment"}`);
  if (sale.outcome === "approved_offline" && payment?.status !== "captured" && !lost) {
    violations.push(`offline sale ${key} neither captured nor recorded as a loss (${payment?.status ?? "no payment"})`);
  }
}

function checkShown(world: SimWorld, sales: Map<string, HubSale>, payments: Map<string, PaymentRecord[]>, violations: string[]): void {
  for (const approval of world.approvals) {
    const expected = approval.shown === "approved" ? "approved" : "approved_offline";
    const sale = [...sales.values()].find((candidate) => candidate.hubId === approval.hubId && candidate.saleId === approval.saleId);
    if (sale === undefined || approval.outcomeAtShow !== expected) {
      violations.push(`hub ${approval.hubId} showed ${approval.shown} for sale ${approval.saleId ?? "none"} whose journal said ${approval.outcomeAtShow ?? "nothing"}`);
      continue;
    }
    const payment = payments.get(`${sale.hubId}/${sale.paymentRequestId}`)?.[0];
    if (approval.shown === "approved" && payment?.status !== "captured") {
      violations.push(`hub ${approval.hubId} showed approved for ${sale.paymentRequestId}, which the service has ${payment?.status ?? "not"} captured`);
    }
  }
}

function checkBalances(world: SimWorld, payments: PaymentRecord[], violations: string[]): void {
  const ledger = world.settlement.service.ledger;
  const kept = (payment: PaymentRecord) => (payment.status === "captured" ? payment.amountMinor - payment.refundedMinor : 0);
  for (const merchant of world.plan.merchants) {
    const expected = payments.filter((payment) => payment.merchantId === merchant.merchantId).reduce((sum, payment) => sum + kept(payment), 0);
    const balance = ledger.findAccount(merchantAccountId(merchant.merchantId))?.balanceMinor ?? 0;
    if (balance !== expected) violations.push(`merchant ${merchant.merchantId} holds ${balance}, its captured payments ${expected}`);
  }
  for (const wallet of world.plan.wallets) {
    const spent = payments.filter((payment) => payment.walletId === wallet.walletId).reduce((sum, payment) => sum + kept(payment), 0);
    const balance = ledger.findAccount(walletAccountId(wallet.walletId))?.balanceMinor ?? 0;
    if (balance !== wallet.fundMinor - spent) violations.push(`wallet ${wallet.walletId} holds ${balance}, funded ${wallet.fundMinor} less captured ${spent}`);
  }
}
