/**
 * Rough in-process throughput of SettlementService.handle() with group commit (not a test, not CI):
 *   npx tsx bench/measure-throughput.ts [payments] [batchMax]
 * Requests are signed beforehand; the timer covers admission (COSE verify), cryptogram verify, posting,
 * decision signing and the durable commit on a temp-dir SQLite file (the signature checks on the service's worker
 * threads, as in a running service).
 */
import { performance } from "node:perf_hooks";
import { SettlementFixture } from "../test/settlement/fixtures.ts";

const workerPollMs = 10;
const workersReadyMsMax = 30_000;
const payments = Number(process.argv[2] ?? 5_000);
const batchMax = Number(process.argv[3] ?? 256);

// One hub sends every payment at once: the queue and the hub's own share of it (64 by default, what keeps one hub
// from filling the queue) are raised to hold them all, or the rest would be shed unanswered.
const queueMax = Math.max(payments, 1);
const f = await SettlementFixture.create({ fundMinor: 1_000_000_000, service: { batchMax, queueMax, queuedPerSenderMax: queueMax } });
try {
  const requests = Array.from({ length: payments }, () => f.hub.paymentRequest(f.wallet, 1).bytes);
  // Timed once a signature-check thread is loaded, as in a running service: before, every check runs inline.
  for (let waitedMs = 0; f.service.verifyWorkersReady === 0; waitedMs += workerPollMs) {
    if (waitedMs >= workersReadyMsMax) throw new Error(`verify workers not ready after ${workersReadyMsMax} ms`);
    await new Promise((resolve) => setTimeout(resolve, workerPollMs));
  }
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
