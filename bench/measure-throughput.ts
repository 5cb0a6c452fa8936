/**
 * Rough in-process throughput of SettlementService.handle() with group commit (not a test, not CI):
 *   npx tsx bench/measure-throughput.ts [payments] [batchMax]
 * Requests are signed beforehand; the timer covers admission (COSE verify), cryptogram verify, posting,
 * decision signing and the durable commit on a temp-dir SQLite file.
 */
import { performance } from "node:perf_hooks";
import { SettlementFixture } from "../test/settlement/fixtures.ts";

const payments = Number(process.argv[2] ?? 5_000);
const batchMax = Number(process.argv[3] ?? 256);

const f = await SettlementFixture.create({ fundMinor: 1_000_000_000, service: { batchMax, queueMax: Math.max(payments, 1) } });
try {
  const requests = Array.from({ length: payments }, () => f.hub.paymentRequest(f.wallet, 1).bytes);
  const startedMs = performance.now();
  const answers = await Promise.all(requests.map((bytes) => f.fromHub(f.hub, bytes)));
  const elapsedMs = performance.now() - startedMs;
  const approved = answers.filter((a) => f.open(a[0]!.payload).status === "approved").length;
  f.service.ledger.checkInvariants();
  console.log(
    JSON.stringify({ payments, batchMax, approved, elapsedMs: Math.round(elapsedMs), paymentsPerSecond: Math.round((payments / elapsedMs) * 1000) }),
  );
} finally {
  await f.close();
}
