import type { JournalSale } from "../../device/journal/hub-journal.ts";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import type { AgentPaymentRecord } from "../../broker/agents/mandate-store.ts";
import type { PaymentRecord } from "../../broker/settlement/settlement-store.ts";
import { isTapwireError } from "../../protocol/errors.ts";
import type { SimWorld } from "../world/world.ts";

/** Which invariant a violation breaks: what tests and reports go by (the detail is for people). */
export const invariants = [
  "hub-crashed",
  "world-failed",
  "not-settled",
  "ledger-unbalanced",
  "payment-without-sale",
  "amount-differs",
  "charged-not-approved",
  "reversed-but-approved",
  "approved-not-captured",
  "offline-unaccounted",
  "charged-twice",
  "shown-not-approved",
  "shown-wrong-sale",
  "balance-differs",
  "budget-overspent",
] as const;
export type Invariant = (typeof invariants)[number];

export interface Violation {
  invariant: Invariant;
  detail: string;
}

export function violation(invariant: Invariant, detail: string): Violation {
  return { invariant, detail };
}

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
 * - every "approved" a hub showed was for a sale its journal had approved then and the service captured, and for the
 *   latest sale it opened (the one at the counter), also right after a reboot;
 * - no mandate paid out more than its budget;
 * - the ledger sums to zero and each merchant's and wallet's balance is what its captured payments say;
 * - no hub machine stopped on a bug, no scheduled work of the world failed.
 */
export function checkInvariants(world: SimWorld): Violation[] {
  const violations = [...world.crashes.map((crash) => violation("hub-crashed", crash)), ...world.errors.map((error) => violation("world-failed", error))];
  const service = world.settlement.service;
  try {
    service.ledger.checkInvariants();
  } catch (error) {
    violations.push(violation("ledger-unbalanced", `${isTapwireError(error) ? `E${error.code} ` : ""}${String(error)}`));
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
    if (recorded.length > 1) violations.push(violation("charged-twice", `sale ${key} charged ${recorded.length} times`));
    for (const payment of recorded) checkPayment(key, payment, sale, violations);
  }
  for (const [key, sale] of sales) checkSale(key, sale, paymentsBySale.get(key)?.[0], losses.has(key), violations);
  checkShown(world, sales, paymentsBySale, violations);
  const agentPayments = checkMandates(world, violations);
  checkBalances(world, payments, agentPayments, violations);
  return violations;
}

function hubSales(world: SimWorld, violations: Violation[]): Map<string, HubSale> {
  const sales = new Map<string, HubSale>();
  // Glasses hubs journal their purchases as sales too: a glasses payment belongs to one, as a tap payment does.
  for (const hub of [...world.hubs, ...world.glassesHubs]) {
    if (!hub.started) {
      violations.push(violation("not-settled", `hub ${hub.hubId} is not running at the end`));
      continue;
    }
    const open = hub.journal.openRequests();
    for (const request of open) violations.push(violation("not-settled", `hub ${hub.hubId} still has an open ${request.kind} ${request.requestId} (sale ${request.saleId})`));
    for (const saleId of hub.saleIds) {
      const sale = hub.journal.sale(saleId);
      if (sale === undefined) violations.push(violation("not-settled", `hub ${hub.hubId} lost sale ${saleId} from its journal`));
      else sales.set(`${hub.hubId}/${sale.paymentRequestId}`, { ...sale, hubId: hub.hubId });
    }
  }
  return sales;
}

function checkPayment(key: string, payment: PaymentRecord, sale: HubSale | undefined, violations: Violation[]): void {
  if (sale === undefined) return void violations.push(violation("payment-without-sale", `payment ${key} (${payment.status}) has no sale on its hub`));
  if (payment.amountMinor !== sale.amountMinor) violations.push(violation("amount-differs", `payment ${key} is ${payment.amountMinor}, its sale ${sale.amountMinor}`));
  if (payment.status === "captured" && !charged.has(sale.outcome)) violations.push(violation("charged-not-approved", `payment ${key} captured but the hub says ${sale.outcome}`));
  if (payment.status === "reversed" && charged.has(sale.outcome)) violations.push(violation("reversed-but-approved", `payment ${key} reversed but the hub says ${sale.outcome}`));
}

function checkSale(key: string, sale: HubSale, payment: PaymentRecord | undefined, lost: boolean, violations: Violation[]): void {
  if (sale.outcome === "pending") violations.push(violation("not-settled", `sale ${key} never settled`));
  if (sale.outcome === "approved" && payment?.status !== "captured") {
    violations.push(violation("approved-not-captured", `sale ${key} approved but the service has ${payment?.status ?? "no payment"}`));
  }
  if (sale.outcome === "approved_offline" && payment?.status !== "captured" && !lost) {
    violations.push(violation("offline-unaccounted", `offline sale ${key} neither captured nor recorded as a loss (${payment?.status ?? "no payment"})`));
  }
}

function checkShown(world: SimWorld, sales: Map<string, HubSale>, payments: Map<string, PaymentRecord[]>, violations: Violation[]): void {
  for (const approval of world.approvals) {
    if (approval.saleId !== approval.counterSaleId) {
      violations.push(violation("shown-wrong-sale", `hub ${approval.hubId} showed ${approval.shown} for sale ${approval.saleId ?? "none"}, not for ${approval.counterSaleId ?? "none"} at the counter`));
    }
    const expected = approval.shown === "approved" ? "approved" : "approved_offline";
    const sale = [...sales.values()].find((candidate) => candidate.hubId === approval.hubId && candidate.saleId === approval.saleId);
    if (sale === undefined || approval.outcomeAtShow !== expected) {
      violations.push(
        violation("shown-not-approved", `hub ${approval.hubId} showed ${approval.shown} for sale ${approval.saleId ?? "none"} whose journal said ${approval.outcomeAtShow ?? "nothing"}`),
      );
      continue;
    }
    const payment = payments.get(`${sale.hubId}/${sale.paymentRequestId}`)?.[0];
    if (approval.shown === "approved" && payment?.status !== "captured") {
      violations.push(violation("shown-not-approved", `hub ${approval.hubId} showed approved for ${sale.paymentRequestId}, which the service has ${payment?.status ?? "not"} captured`));
    }
  }
}

/** Returns every agent payment, for the balances. */
function checkMandates(world: SimWorld, violations: Violation[]): AgentPaymentRecord[] {
  const service = world.settlement.service;
  const all: AgentPaymentRecord[] = [];
  for (const mandate of world.plan.wallets.flatMap((wallet) => service.mandatesOf(wallet.walletId))) {
    const paid = service.agentPaymentsOf(mandate.mandateId);
    all.push(...paid);
    const spentMinor = paid.reduce((sum, payment) => sum + payment.amountMinor - payment.refundedMinor, 0);
    if (spentMinor > mandate.budgetMinor || mandate.spentMinor > mandate.budgetMinor) {
      violations.push(violation("budget-overspent", `mandate ${mandate.mandateId} paid ${spentMinor} (recorded ${mandate.spentMinor}) of a ${mandate.budgetMinor} budget`));
    }
  }
  return all;
}

function checkBalances(world: SimWorld, payments: PaymentRecord[], agentPayments: AgentPaymentRecord[], violations: Violation[]): void {
  const ledger = world.settlement.service.ledger;
  const kept = (payment: PaymentRecord) => (payment.status === "captured" ? payment.amountMinor - payment.refundedMinor : 0);
  const agentPaid = (owner: (payment: AgentPaymentRecord) => string, id: string) =>
    agentPayments.filter((payment) => owner(payment) === id).reduce((sum, payment) => sum + payment.amountMinor - payment.refundedMinor, 0);
  for (const merchant of world.plan.merchants) {
    const expected =
      payments.filter((payment) => payment.merchantId === merchant.merchantId).reduce((sum, payment) => sum + kept(payment), 0) +
      agentPaid((payment) => payment.merchantId, merchant.merchantId);
    const balance = ledger.findAccount(merchantAccountId(merchant.merchantId))?.balanceMinor ?? 0;
    if (balance !== expected) violations.push(violation("balance-differs", `merchant ${merchant.merchantId} holds ${balance}, its captured payments ${expected}`));
  }
  for (const wallet of world.plan.wallets) {
    const spent =
      payments.filter((payment) => payment.walletId === wallet.walletId).reduce((sum, payment) => sum + kept(payment), 0) +
      agentPaid((payment) => payment.walletId, wallet.walletId);
    const balance = ledger.findAccount(walletAccountId(wallet.walletId))?.balanceMinor ?? 0;
    if (balance !== wallet.fundMinor - spent) {
      violations.push(violation("balance-differs", `wallet ${wallet.walletId} holds ${balance}, funded ${wallet.fundMinor} less captured ${spent}`));
    }
  }
}
