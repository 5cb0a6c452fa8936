import { cpus, loadavg, platform, release, totalmem } from "node:os";
import { wholeRunCounts, type CpuSpent, type WarmupReport, type WritesSpent } from "./generator-protocol.ts";
import type { BenchOptions } from "./options.ts";
import type { ProfileSummary } from "./profile.ts";
import type { LoadResult } from "./settlement-under-load.ts";
import type { MachineStalls } from "./machine-stalls.ts";
import type { ProcessesCpu } from "./proc-cpu.ts";
import type { HubJournalResult } from "./hub-journal.ts";
import type { HubSaleResult } from "./hub-sale.ts";
import type { StageResult } from "./stages.ts";
import { efficiency, type Floor } from "./floor.ts";
import { assert } from "../core/assert.ts";

export const targetPaymentsPerSecond = 3_000;

export interface MachineInfo {
  cpuModel: string;
  cpuCount: number;
  nodeVersion: string;
  /** Node's own flags for this process and the generator (tsx's loader left out), e.g. --v8-pool-size=0. */
  nodeFlags: string[];
  platform: string;
  release: string;
  memoryMb: number;
  /** 1-minute load average when the load started and when it ended: others' work shares these cores. */
  loadAverage1mBefore: number;
  loadAverage1mAfter: number;
}

export interface Headline {
  approvedPerSecond: number;
  meetsTarget: boolean;
  /**
   * CPU time the settlement side spent per approved payment: the node process (embedded), or every worker process,
   * Mosquitto and the database's PostgreSQL backends together (scale-out).
   */
  nodeCpuUsPerPayment: number;
  /** The node's main thread alone (event loop: broker, link, transaction); Linux only. */
  nodeMainThreadCpuUsPerPayment?: number;
  generatorCpuUsPerPayment: number;
  /** Cores kept busy over the load (1 = one whole core), settlement side and generator. */
  nodeCoreShare: number;
  generatorCoreShare: number;
  /** Scale-out: the settlement side's CPU per payment by part. */
  workersCpuUsPerPayment?: number;
  brokerCpuUsPerPayment?: number;
  databaseCpuUsPerPayment?: number;
  /** approved/s ÷ what the floor allows on this machine (with the floor measured). */
  efficiency?: number;
}

export interface BenchReport {
  startedAt: string;
  machine: MachineInfo;
  options: BenchOptions;
  headline: Headline;
  load: LoadResult;
  stages: StageResult[];
  /** The hub journal's cost per sale on this machine's disk (with the stages). */
  hubJournal?: HubJournalResult;
  /** The real tap hub runtime's CPU per sale, selling back to back in a process of its own (with the stages). */
  hubSale?: HubSaleResult;
  /** The unavoidable CPU per payment on this machine, measured in the same run (bench/floor.ts). */
  floor?: Floor;
}

export function machineInfo(loadAverage1mBefore: number): MachineInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? "unknown",
    cpuCount: list.length,
    nodeVersion: process.version,
    nodeFlags: nodeFlags(),
    platform: platform(),
    release: release(),
    memoryMb: Math.round(totalmem() / 2 ** 20),
    loadAverage1mBefore,
    loadAverage1mAfter: loadAverage1m(),
  };
}

/** process.execArgv without the loader tsx adds (`--require …preflight.cjs`, `--import …loader.mjs`). */
function nodeFlags(): string[] {
  const flags: string[] = [];
  for (let index = 0; index < process.execArgv.length; index += 1) {
    const flag = process.execArgv[index]!;
    const loader = (flag === "--require" || flag === "--import") && process.execArgv[index + 1]?.includes("/tsx/");
    if (loader) index += 1;
    else flags.push(flag);
  }
  return flags;
}

export function loadAverage1m(): number {
  return loadavg()[0] ?? 0;
}

interface CpuTime {
  userMs: number;
  systemMs: number;
}

/** The settlement side's CPU over the load: the node's own, or its parts' added up. */
function settlementCpu(load: LoadResult): CpuTime {
  if (load.node) return load.node.cpu;
  const side = load.scaleOut;
  assert(side !== undefined, "a load result holds the embedded node or the scale-out side");
  const parts = [side.workersCpu, side.brokerCpu, side.databaseCpu];
  return { userMs: parts.reduce((sum, cpu) => sum + cpu.userMs, 0), systemMs: parts.reduce((sum, cpu) => sum + cpu.systemMs, 0) };
}

export function headline(load: LoadResult, floor?: Floor): Headline {
  const { generator, node, scaleOut } = load;
  const approvedPerSecond = generator.elapsedMs > 0 ? (generator.approved / generator.elapsedMs) * 1000 : 0;
  const perPayment = (cpu: CpuTime) => (generator.approved > 0 ? ((cpu.userMs + cpu.systemMs) * 1000) / generator.approved : 0);
  const share = (cpu: CpuTime) => (generator.elapsedMs > 0 ? (cpu.userMs + cpu.systemMs) / generator.elapsedMs : 0);
  const mainMs = node?.cpu.mainThreadCpuMs;
  const side = settlementCpu(load);
  return {
    approvedPerSecond,
    meetsTarget: approvedPerSecond >= targetPaymentsPerSecond,
    nodeCpuUsPerPayment: perPayment(side),
    ...(mainMs !== undefined ? { nodeMainThreadCpuUsPerPayment: perPayment({ userMs: mainMs, systemMs: 0 }) } : {}),
    generatorCpuUsPerPayment: perPayment(generator.cpu),
    nodeCoreShare: share(side),
    generatorCoreShare: share(generator.cpu),
    ...(scaleOut
      ? {
          workersCpuUsPerPayment: perPayment(scaleOut.workersCpu),
          brokerCpuUsPerPayment: perPayment(scaleOut.brokerCpu),
          databaseCpuUsPerPayment: perPayment(scaleOut.databaseCpu),
        }
      : {}),
    ...(floor ? { efficiency: efficiency(approvedPerSecond, floor) } : {}),
  };
}

const integer = (value: number) => Math.round(value).toLocaleString("en-US");
const ms = (value: number) => value.toFixed(value < 10 ? 2 : 1);
const percent = (value: number) => `${(value * 100).toFixed(0)}%`;

function counts(record: Record<string, number>): string {
  const entries = Object.entries(record);
  return entries.length === 0 ? "none" : entries.map(([key, count]) => `${key} ×${count}`).join(", ");
}

function table(headers: string[], rows: string[][], rightAligned: ReadonlySet<number>): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => (rightAligned.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join("  ");
  return [line(headers), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(line)].join("\n");
}

function stageTable(stages: StageResult[]): string {
  const sideTotals = new Map<string, number>();
  for (const stage of stages) sideTotals.set(stage.side, (sideTotals.get(stage.side) ?? 0) + stage.usPerPayment);
  const rows = stages.map((stage) => [
    stage.stage,
    stage.side,
    stage.usPerPayment.toFixed(1),
    percent(stage.usPerPayment / sideTotals.get(stage.side)!),
    stage.note,
  ]);
  for (const [side, totalUs] of sideTotals) {
    rows.push([`= sum: one core's ceiling ${integer(1e6 / totalUs)}/s`, side, totalUs.toFixed(1), "100%", ""]);
  }
  return table(["stage (isolated, one core)", "paid by", "µs/payment", "share", "note"], rows, new Set([2, 3]));
}

function profileTable(title: string, profile: ProfileSummary): string {
  const areas = table(["area", "self ms", "share"], profile.byArea.map((e) => [e.name, integer(e.selfMs), percent(e.share)]), new Set([1, 2]));
  const top = table(["function", "self ms", "share"], profile.topFunctions.map((e) => [e.name, integer(e.selfMs), percent(e.share)]), new Set([1, 2]));
  return `${title} — ${integer(profile.sampledMs)} ms sampled\n${areas}\n\n${top}`;
}

const cpuLine = (cpu: CpuSpent, usPerPayment: number, share: number, mainUsPerPayment?: number) =>
  `user ${integer(cpu.userMs)} + sys ${integer(cpu.systemMs)} ms = ${percent(share)} of a core, ${integer(usPerPayment)} µs/payment` +
  (mainUsPerPayment !== undefined ? ` (main thread ${integer(mainUsPerPayment)})` : "") +
  "; " +
  `loop busy ${percent(cpu.eventLoopUtilization)}` +
  (cpu.runQueueWaitMs !== undefined ? `, waited ${integer(cpu.runQueueWaitMs)} ms for a core` : "") +
  `, ${integer(cpu.voluntaryContextSwitches)} blocking waits`;

/** CPU read from /proc for processes the bench did not run itself: no event loop or scheduler figures. */
const processesCpuLine = (cpu: ProcessesCpu, approved: number, elapsedMs: number) => {
  const totalMs = cpu.userMs + cpu.systemMs;
  return (
    `user ${integer(cpu.userMs)} + sys ${integer(cpu.systemMs)} ms = ${percent(elapsedMs > 0 ? totalMs / elapsedMs : 0)} of a core, ` +
    `${integer(approved > 0 ? (totalMs * 1000) / approved : 0)} µs/payment (${cpu.processes} processes)`
  );
};

/** Per approved payment: write calls and bytes (the WAL's frames, checkpoints' copies, TLS records, logs). */
const writesLine = (writes: WritesSpent, approved: number) => {
  const per = (value: number) => (approved > 0 ? value / approved : 0);
  return (
    `${per(writes.calls).toFixed(1)} write calls and ${(per(writes.bytes) / 1024).toFixed(1)} KB per payment ` +
    `(${(per(writes.diskBytes) / 1024).toFixed(1)} KB of it reached the disk): WAL frames, checkpoints, TLS records`
  );
};

const machineStallsLine = (stalls: MachineStalls) =>
  `a process beside the load that only sleeps 1 ms at a time woke late by p99 ${stalls.lateP99Ms.toFixed(1)} ms, max ${stalls.lateMaxMs.toFixed(1)} ms; ` +
  `${integer(stalls.lateOver5Ms)} of ${integer(stalls.sleeps)} sleeps more than 5 ms late (it does no work: it waited for a core or for the host, as every thread of the run did then)`;

/** The rows describing the settlement side: one node process, or workers, broker and database. */
function settlementRows(load: LoadResult, head: Headline): string[][] {
  if (load.node) {
    return [
      ["CPU settlement node", cpuLine(load.node.cpu, head.nodeCpuUsPerPayment, head.nodeCoreShare, head.nodeMainThreadCpuUsPerPayment)],
      ["settlement node RSS", `${integer(load.node.rssPeakMb)} MB at its peak during the load`],
      ...(load.node.cpu.writes ? [["settlement node writes", writesLine(load.node.cpu.writes, load.generator.approved)]] : []),
      [
        "node event-loop delay",
        `p50 ${load.node.loopDelay.p50Ms.toFixed(1)} ms, p99 ${load.node.loopDelay.p99Ms.toFixed(1)} ms, max ${load.node.loopDelay.maxMs.toFixed(1)} ms`,
      ],
    ];
  }
  const side = load.scaleOut!;
  const { approved, elapsedMs } = load.generator;
  return [
    ["CPU settlement side", `${percent(head.nodeCoreShare)} of a core, ${integer(head.nodeCpuUsPerPayment)} µs/payment: workers + Mosquitto + PostgreSQL backends below`],
    [`  ${side.workers} settle worker(s)`, processesCpuLine(side.workersCpu, approved, elapsedMs)],
    ["  Mosquitto", processesCpuLine(side.brokerCpu, approved, elapsedMs)],
    ["  PostgreSQL backends", `${processesCpuLine(side.databaseCpu, approved, elapsedMs)}; the server's shared processes (WAL writer, checkpointer) not counted`],
    ["settlement worker RSS", `${integer(side.workerRssPeakMbMax)} MB the largest worker at its peak, ${integer(side.workerRssPeakMbSum)} MB all ${side.workers}; Mosquitto ${integer(side.brokerRssPeakMb)} MB`],
  ];
}

function warmupLine(warmup: WarmupReport): string {
  const failed = Object.keys(warmup.failedByCode).length > 0 ? `, failed ${counts(warmup.failedByCode)}` : "";
  return (
    `${integer(warmup.approved)} approved of ${integer(warmup.sent)} in ${ms(warmup.elapsedMs / 1000)} s${failed}; ` +
    `request→decision p50 ${ms(warmup.latency.p50Ms)}  p99 ${ms(warmup.latency.p99Ms)}  max ${ms(warmup.latency.maxMs)} ms`
  );
}

function setupLine(options: BenchOptions, load: LoadResult): string {
  const run =
    `tapwire bench — ${options.hubs} hubs × ${options.inflight} in flight${options.ratePerSecond !== undefined ? `, open loop at ${options.ratePerSecond}/s` : ""}, ` +
    `≤ ${integer(options.payments)} payments or ≤ ${options.seconds} s` +
    (options.warmupSeconds > 0 ? ` after ${options.warmupSeconds} s of warm-up; ` : " from a cold start; ");
  const side = load.scaleOut;
  if (side) {
    return (
      run +
      `store postgres, ${side.workers} tapwire settle worker(s) in MQTT 5 shared group behind Mosquitto ${side.mosquittoVersion} ` +
      `(generated config, mTLS) on 127.0.0.1, PostgreSQL ${side.postgresVersion} SERIALIZABLE; workers up in ${integer(side.workersStartMs)} ms`
    );
  }
  return (
    run +
    `store sqlite, embedded aedes over mTLS on 127.0.0.1, SQLite WAL, each batch fdatasync'd before it answers` +
    (options.batchMax !== undefined ? `, batchMax ${options.batchMax}` : "") +
    (options.verifyWorkers !== undefined ? `, verifyWorkers ${options.verifyWorkers}` : "") +
    (options.verifyGatherMs !== undefined ? `, verifyGatherMs ${options.verifyGatherMs}` : "") +
    (options.handlerCalls !== undefined ? `, handlerCalls ${options.handlerCalls}` : "") +
    (options.walletPerLane ? "" : ", one wallet per hub")
  );
}

export function renderReport(report: BenchReport): string {
  const { options, machine, load, headline: head } = report;
  const { generator, node, ledger } = load;
  const rows = [
    ["approved payments/s", `${integer(head.approvedPerSecond)}  (target ≥ ${integer(targetPaymentsPerSecond)}: ${head.meetsTarget ? "met" : "NOT met"})`],
    ["approved / sent", `${integer(generator.approved)} / ${integer(generator.sent)} in ${ms(generator.elapsedMs / 1000)} s`],
    ["declined", counts(generator.declinedByCode)],
    ["failed", `${counts(generator.failedByCode)}; ${integer(generator.retried)} sends retried with the same bytes`],
    [
      "request→decision ms",
      `p50 ${ms(generator.latency.p50Ms)}  p90 ${ms(generator.latency.p90Ms)}  p99 ${ms(generator.latency.p99Ms)}  max ${ms(generator.latency.maxMs)}  mean ${ms(generator.latency.meanMs)}`,
    ],
    ...settlementRows(load, head),
    ["machine stalls", machineStallsLine(load.machineStalls)],
    ["CPU load generator", cpuLine(generator.cpu, head.generatorCpuUsPerPayment, head.generatorCoreShare)],
    [
      "ledger",
      `invariants hold (${integer(ledger.invariants.transfers)} transfers, sums zero); payment transfers ${integer(ledger.paymentTransfers)} ${ledger.consistent ? "=" : "≠"} approved ${integer(wholeRunCounts(generator).approved)}` +
        (generator.warmup ? " (warm-up included)" : "") +
        (ledger.paymentsOnce === undefined ? "" : `; ${ledger.paymentsOnce ? "each" : "NOT each"} payment's reference once`),
    ],
    [
      "/metrics scraped",
      `approved ${integer(load.scraped.approved)}, declined ${counts(load.scraped.declinedByCode)}: ${load.scraped.equal ? "equal to" : "DIFFERENT from"} the generator's counts${generator.warmup ? " (warm-up included)" : ""}` +
        (load.scaleOut ? ` (approved by ${load.scraped.approvedByEndpoint.map((count, index) => `w${index + 1} ${integer(count)}`).join(", ")})` : "") +
        (load.scraped.batches > 0 ? `; group commit: ${(load.scraped.batchedMessages / load.scraped.batches).toFixed(1)} messages a batch over ${integer(load.scraped.batches)} batches` : ""),
    ],
    ["hubs connected in", `${integer(load.connectMs)} ms`],
  ];
  if (generator.warmup) rows.push(["warm-up (not counted above)", warmupLine(generator.warmup)]);
  if (report.floor) {
    const floor = report.floor;
    rows.push(
      [
        "floor (same run)",
        `${integer(floor.usPerPayment)} µs CPU/payment (each part the least of ${floor.rounds} rounds, before and after the load) = 3 × ES256 sign ${integer(floor.es256SignUs)} + 3 × verify ${integer(floor.es256VerifyUs)} + mTLS MQTT round trip ${integer(floor.mqttRoundTripUs)} + ledger post ${integer(floor.ledgerPostUs)}; ${floor.cores} cores allow ${integer(floor.paymentsPerSecond)}/s`,
      ],
      ["efficiency", `${(head.efficiency ?? 0).toFixed(2)}  (approved/s ÷ what the floor allows; aim ≥ 0.60)`],
    );
  }
  if (load.scaleOut) rows.push(["floor, efficiency", "not measured with --broker mosquitto (they time the embedded broker and SQLite); nor the stages and hub figures"]);
  if (generator.behindMsMax !== undefined) rows.push(["open loop", `${integer(options.ratePerSecond ?? 0)}/s intended; the generator fell behind schedule by ${ms(generator.behindMsMax)} ms at most`]);
  const sections = [
    setupLine(options, load),
    `machine: ${machine.cpuModel} × ${machine.cpuCount}, node ${machine.nodeVersion}${machine.nodeFlags.map((flag) => ` ${flag}`).join("")}, ${machine.platform} ${machine.release}; ` +
      `1-min load average ${machine.loadAverage1mBefore.toFixed(2)} before, ${machine.loadAverage1mAfter.toFixed(2)} after` +
      (machine.loadAverage1mBefore > 0.5 ? " (other work was running: expect lower, noisier numbers)" : ""),
    table(["measure", "value"], rows, new Set()),
  ];
  if (report.stages.length > 0) sections.push(`Where the time goes (each stage alone):\n${stageTable(report.stages)}`);
  if (report.hubJournal) sections.push(hubJournalTable(report.hubJournal));
  if (report.hubSale) sections.push(hubSaleTable(report.hubSale));
  if (node?.profile) sections.push(profileTable("CPU profile, settlement node (broker + service) during the load", node.profile));
  if (generator.profile) sections.push(profileTable("CPU profile, load generator during the load", generator.profile));
  return sections.join("\n\n");
}

function hubSaleTable(result: HubSaleResult): string {
  const rows = [
    ["hub process CPU per sale", `${integer(result.cpuUsPerSale)} µs`],
    ["of which system (fsync, sockets)", `${integer(result.systemUsPerSale)} µs`],
    ["wall per sale, p50", `${result.wallMsPerSaleP50.toFixed(1)} ms`],
    ["idle, waiting for a sale", `${(result.idleCoreShare * 100).toFixed(1)}% of a core`],
  ];
  return `Hub runtime per sale (real tap hub, virtual PN532 and phone in its process, ${result.sales} sales back to back):\n${table(["measure", "value"], rows, new Set())}`;
}

function hubJournalTable(result: HubJournalResult): string {
  const us = (ms: number) => `${integer(ms * 1_000)} µs`;
  const rows = [
    ["seal + decision, wall p50", us(result.wall.p50Ms)],
    ["seal + decision, wall p99", us(result.wall.p99Ms)],
    ["hub CPU per sale", `${integer(result.cpuUsPerSale)} µs`],
    ["same on an in-memory journal", `${integer(result.memoryWallUsPerSale)} µs`],
    ["same, in-memory, journal already full (salesMax sales)", `${integer(result.fullMemoryWallUsPerSale)} µs`],
  ];
  return `Hub journal per sale (SQLite WAL, synchronous=FULL, 2 fsyncs, ${result.sales} sales in ${result.directory}):\n${table(["measure", "value"], rows, new Set())}`;
}
