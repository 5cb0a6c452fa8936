import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { HubJournal, journalLimitsDefault } from "../device/journal/hub-journal.ts";
import { systemClock } from "../core/sources.ts";
import { summarize, type LatencySummary } from "./stats.ts";

/** What the hub journal costs one sale on this machine's disk: the seal record and the decision record. */
export interface HubJournalResult {
  sales: number;
  /** Wall time of the two durable commits of one sale (what the customer waits for), in ms. */
  wall: LatencySummary;
  /** CPU µs the hub spends per sale on the two commits. */
  cpuUsPerSale: number;
  /** The same two commits on an in-memory journal: the part that is not the disk. */
  memoryWallUsPerSale: number;
  /** The same on an in-memory journal already holding salesMax resolved sales (a busy hub's steady state). */
  fullMemoryWallUsPerSale: number;
  directory: string;
}

const salesMeasured = 300;
const payload = Buffer.alloc(420, 7);

function oneSale(journal: HubJournal, index: number): void {
  const saleId = `sale-${index}`;
  const requestId = `req-${index}`;
  journal.seal({ kind: "payment", saleId, requestId, sale: { saleId, mode: "reader", amountMinor: 100, currency: "EUR" } }, () => ({
    payload,
    iatMs: 0,
    expMs: 60_000,
  }));
  journal.recordDecision(requestId, { status: "approved", code: 0, bytes: payload }, { outcome: "approved", code: 0 });
}

/**
 * The journal's price per sale: a payment sealed (seq taken and the request written, one fsync in WAL mode with
 * synchronous=FULL) and its decision recorded with the sale's outcome (a second fsync), on a file in the OS temp
 * directory (or `directory`), against the same on an in-memory journal.
 */
export function measureHubJournal(directory = tmpdir()): HubJournalResult {
  const dir = mkdtempSync(join(directory, "tapwire-journal-bench-"));
  try {
    const journal = HubJournal.open({ path: join(dir, "journal.sqlite"), clock: systemClock, limits: { salesMax: salesMeasured * 2 } });
    const wallMs = new Float64Array(salesMeasured);
    for (let index = 0; index < 20; index += 1) oneSale(journal, -1 - index);
    const cpuBefore = process.cpuUsage();
    for (let index = 0; index < salesMeasured; index += 1) {
      const startedMs = performance.now();
      oneSale(journal, index);
      wallMs[index] = performance.now() - startedMs;
    }
    const cpu = process.cpuUsage(cpuBefore);
    journal.close();
    const memory = HubJournal.open({ path: ":memory:", clock: systemClock, limits: { salesMax: salesMeasured * 2 } });
    const memoryStartedMs = performance.now();
    for (let index = 0; index < salesMeasured; index += 1) oneSale(memory, index);
    const memoryWallUsPerSale = ((performance.now() - memoryStartedMs) * 1_000) / salesMeasured;
    memory.close();
    const full = HubJournal.open({ path: ":memory:", clock: systemClock });
    for (let index = 0; index < journalLimitsDefault.salesMax; index += 1) oneSale(full, salesMeasured + index);
    const fullStartedMs = performance.now();
    for (let index = 0; index < salesMeasured; index += 1) oneSale(full, index);
    const fullMemoryWallUsPerSale = ((performance.now() - fullStartedMs) * 1_000) / salesMeasured;
    full.close();
    return {
      sales: salesMeasured,
      wall: summarize(wallMs.sort()),
      cpuUsPerSale: (cpu.user + cpu.system) / salesMeasured,
      memoryWallUsPerSale,
      fullMemoryWallUsPerSale,
      directory,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
