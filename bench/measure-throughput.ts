/**
 * Rough in-process throughput of SettlementService.handle() with group commit (not a test, not CI):
 *   npx tsx bench/measure-throughput.ts [payments] [batchMax] [inflight]
 * Requests are signed beforehand; the timer covers admission (COSE verify), cryptogram verify, posting,
 * decision signing and the durable commit on a temp-dir SQLite file (the signature checks on the service's worker
 * threads, as in a running service). `inflight`: the hub keeps that many waiting (default: sends all at once).
 * Also the CPU per payment, all threads and the main thread alone, after as many payments again (at most 1,000)
 * left out as warm-up: with no MQTT, TLS or generator beside it, the steadiest figure this VM gives for comparing
 * two versions (alternate them, several runs each).
 */
import { performance } from "node:perf_hooks";
import { SettlementFixture } from "../test/settlement/fixtures.ts";
import { CpuMeter } from "./stats.ts";

const workerPollMs = 10;
const workersReadyMsMax = 30_000;
const payments = Number(process.argv[2] ?? 5_000);
const batchMax = Number(process.argv[3] ?? 256);
const inflight = Number(process.argv[4] ?? payments);
const warmupPayments = Math.min(payments, 1_000);

// One hub sends its payments `inflight` at a time (all at once by default): the queue and the hub's own share of it (64
// by default, what keeps one hub from filling the queue) are raised to hold them all, or the rest would be shed.
const queueMax = Math.max(payments, 1);

const f = await SettlementFixture.create({ fundMinor: 1_000_000_000, service: { batchMax, queueMax, queuedPerSenderMax: queueMax } });
/** Sends `requests`, `inflight` at a time, and returns each one's answers. */
async function settle(requests: Uint8Array[]) {
  const answers = [];
  for (let start = 0; start < requests.length; start += inflight) {
    answers.push(...(await Promise.all(requests.slice(start, start + inflight).map((bytes) => f.fromHub(f.hub, bytes)))));
  }
  return answers;
}
try {
  const requests = Array.from({ length: warmupPayments + payments }, () => f.hub.paymentRequest(f.wallet, 1).bytes);
  // Timed once a signature-check thread is loaded, as in a running service: before, every check runs inline.
  for (let waitedMs = 0; f.service.verifyWorkersReady === 0; waitedMs += workerPollMs) {
    if (waitedMs >= workersReadyMsMax) throw new Error(`verify workers not ready after ${workersReadyMsMax} ms`);
    await new Promise((resolve) => setTimeout(resolve, workerPollMs));
  }
  await settle(requests.slice(0, warmupPayments));
  const startedMs = performance.now();
  const cpu = new CpuMeter();
  const answers = await settle(requests.slice(warmupPayments));
  const spent = cpu.stop();
  const elapsedMs = performance.now() - startedMs;
  const approved = answers.filter((a) => f.open(a[0]!.payload).status === "approved").length;
  f.service.ledger.checkInvariants();
  console.log(
    JSON.stringify({
      payments,
      batchMax,
      inflight,
      approved,
      elapsedMs: Math.round(elapsedMs),
      paymentsPerSecond: Math.round((payments / elapsedMs) * 1000),
      cpuUsPerPayment: Math.round(((spent.userMs + spent.systemMs) * 1000) / payments),
      ...(spent.mainThreadCpuMs === undefined ? {} : { mainThreadCpuUsPerPayment: Math.round((spent.mainThreadCpuMs * 1000) / payments) }),
    }),
  );
} finally {
  await f.close();
}
