/**
 * SQL statements the settlement service runs per hub payment (not a test, not CI):
 *   npx tsx bench/count-statements.ts [payments] [inflight]
 * Counts every run/get/all/iterate of a better-sqlite3 statement while `payments` approved payments from one hub
 * settle in-process (as bench/measure-throughput.ts), then prints the count per payment and each SQL text's share.
 * The counter wraps better-sqlite3's statement methods in this process only; production code is not touched.
 */
import Database from "better-sqlite3";
import { SettlementFixture } from "../test/settlement/fixtures.ts";
import { CpuMeter } from "./stats.ts";

const payments = Number(process.argv[2] ?? 1_000);
const counts = new Map<string, number>();
const spentNs = new Map<string, bigint>();
let counting = false;
// Requests the hub keeps in flight (16 by default): fewer make smaller batches, whose BEGIN and COMMIT weigh more.
const inFlightPerHub = Number(process.argv[3] ?? 16);

const probe = new Database(":memory:");
const statementPrototype = Object.getPrototypeOf(probe.prepare("SELECT 1")) as Record<string, unknown>;
probe.close();
for (const method of ["run", "get", "all", "iterate"]) {
  const original = statementPrototype[method] as (...args: unknown[]) => unknown;
  statementPrototype[method] = function (this: { source: string }, ...args: unknown[]) {
    if (!counting) return original.apply(this, args);
    counts.set(this.source, (counts.get(this.source) ?? 0) + 1);
    const startedNs = process.hrtime.bigint();
    try {
      return original.apply(this, args);
    } finally {
      spentNs.set(this.source, (spentNs.get(this.source) ?? 0n) + process.hrtime.bigint() - startedNs);
    }
  };
}

const f = await SettlementFixture.create({ fundMinor: 1_000_000_000, service: { queueMax: Math.max(payments, 1) } });
try {
  const requests = Array.from({ length: payments }, () => f.hub.paymentRequest(f.wallet, 1).bytes);
  counting = true;
  const cpu = new CpuMeter();
  const answers = [];
  // A hub keeps a few requests in flight (the service bounds what one sender may queue).
  for (let start = 0; start < payments; start += inFlightPerHub) {
    answers.push(...(await Promise.all(requests.slice(start, start + inFlightPerHub).map((bytes) => f.fromHub(f.hub, bytes)))));
  }
  counting = false;
  const mainThreadCpuMs = cpu.stop().mainThreadCpuMs;
  const approved = answers.filter((a) => f.open(a[0]!.payload).status === "approved").length;
  const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
  console.log(`${approved} of ${payments} approved; ${(total / payments).toFixed(2)} statements per payment`);
  // The time inside the statements (counter included, ~0.1 µs a call) against the main thread's CPU over the same span:
  // what the product's storage costs a payment however lean the code around it.
  const sqlUs = Number([...spentNs.values()].reduce((sum, ns) => sum + ns, 0n)) / 1_000 / payments;
  const mainUs = mainThreadCpuMs === undefined ? "" : ` of the main thread's ${((mainThreadCpuMs * 1_000) / payments).toFixed(0)} µs CPU`;
  console.log(`${sqlUs.toFixed(1)} µs a payment inside statements (COMMIT included, not the fdatasync on libuv's pool)${mainUs}`);
  for (const [sql, n] of [...counts].sort((a, b) => b[1] - a[1])) {
    const us = Number(spentNs.get(sql) ?? 0n) / 1_000 / n;
    console.log(`${(n / payments).toFixed(2).padStart(6)} × ${us.toFixed(1).padStart(6)} µs  ${sql.replace(/\s+/g, " ").slice(0, 150)}`);
  }
} finally {
  await f.close();
}
