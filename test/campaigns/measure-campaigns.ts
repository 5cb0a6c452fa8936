/**
 * Rough in-process cost of campaigns (not a test, not CI):
 *   npx tsx test/campaigns/measure-campaigns.ts [payments] [rounds]
 * The same loop of reader payments (signed beforehand, then all handed to SettlementService.handle() at once on
 * a temp-dir SQLite file) with no campaign, and with a campaign that discounts every one of them (limit counters
 * and budget UPDATE, two linked legs, the redemption row). Rounds alternate; the median of each is printed.
 */
import { performance } from "node:perf_hooks";
import { SettlementFixture } from "../settlement/fixtures.ts";

const payments = Number(process.argv[2] ?? 5_000);
const rounds = Number(process.argv[3] ?? 3);
const dayMs = 86_400_000;

async function paymentsPerSecond(discounted: boolean): Promise<number> {
  const f = await SettlementFixture.create({
    fundMinor: 1_000_000_000,
    perPaymentMaxMinor: 1_000,
    service: { queueMax: payments, queuedPerSenderMax: payments },
  });
  try {
    if (discounted) {
      const nowMs = f.clock.nowMs();
      f.service.campaigns.add(
        {
          campaignId: "bench",
          merchantId: "m1",
          currency: "EUR",
          rule: { kind: "percent", percentBps: 1_000, capMinor: 50 },
          budgetMinor: 1_000_000_000,
          startsAtMs: nowMs,
          endsAtMs: nowMs + dayMs,
          perCustomerMax: payments,
          perDayMax: payments,
        },
        "bench",
      );
    }
    const requests = Array.from({ length: payments }, () => f.hub.paymentRequest(f.wallet, 100).bytes);
    const startedMs = performance.now();
    const answers = await Promise.all(requests.map((bytes) => f.fromHub(f.hub, bytes)));
    const elapsedMs = performance.now() - startedMs;
    const receipts = answers.map((a) => f.open(a[0]!.payload).receipt);
    const expectedDiscount = discounted ? 10 : undefined;
    if (receipts.some((r) => r?.discountMinor !== expectedDiscount)) throw new Error("a payment was not priced as this round expects");
    f.service.ledger.checkInvariants();
    return (payments / elapsedMs) * 1_000;
  } finally {
    await f.close();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const plain: number[] = [];
const discount: number[] = [];
for (let round = 0; round < rounds; round += 1) {
  plain.push(await paymentsPerSecond(false));
  discount.push(await paymentsPerSecond(true));
}
console.log(
  JSON.stringify({
    payments,
    rounds,
    plainPaymentsPerSecond: Math.round(median(plain)),
    discountedPaymentsPerSecond: Math.round(median(discount)),
    ratio: Number((median(discount) / median(plain)).toFixed(3)),
  }),
);
