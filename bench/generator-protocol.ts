import type { ProfileSummary } from "./profile.ts";
import type { LatencySummary } from "./stats.ts";

/** One simulated hub as the settlement node enrolled it, with the wallets only this hub charges. */
export interface HubIdentity {
  hubId: string;
  merchantId: string;
  certPem: string;
  keyPem: string;
  /** Used one after the other: a wallet has 65 535 ATCs, then it is spent. */
  wallets: Array<{ walletId: string; keyPem: string }>;
}

/** Parent → generator: everything needed to connect; the load starts on "go". */
export interface SetupMessage {
  type: "setup";
  url: string;
  /** MQTT version the hubs speak: 4 to the embedded broker, 5 to Mosquitto (as the workers of a shared group do). */
  protocolVersion: 4 | 5;
  caPem: string;
  servicePublicKeyPem: string;
  currency: string;
  hubs: HubIdentity[];
  inflight: number;
  /**
   * Each of a hub's `inflight` lanes charges wallets of its own, one payment at a time, as customers' phones do.
   * Needed with several workers: a wallet's payments in flight together may reach different workers out of order,
   * and once a later ATC is settled the earlier one is refused (CounterReplayed), as a cloned phone's would be. With one
   * wallet per hub (--wallet-per-hub, the embedded run's workload before 2026-12-04) a request the node sheds and the
   * hub retries after later ones of that wallet is refused the same way: a cold warm-up declined up to 18 so.
   */
  walletPerLane: boolean;
  /** Open loop at this rate (payments per second, all hubs); absent: closed loop, `inflight` lanes per hub. */
  ratePerSecond?: number;
  paymentsMax: number;
  durationMs: number;
  /**
   * Load of the same kind first, for this long (and at most paymentsMax payments), left out of every figure: the
   * first seconds of a fresh process run cold (JIT, caches) and at 1,000/s its queue takes ~2 s to drain. 0: none.
   */
  warmupMs: number;
  amountMinor: number;
  decisionTimeoutMs: number;
  connectTimeoutMs: number;
  profile: boolean;
}

/** "go" starts the load (the warm-up first, if any); "measure" starts the measured load once the parent measures too. */
export type ParentMessage = SetupMessage | { type: "go" } | { type: "measure" };

export interface CpuSpent {
  userMs: number;
  systemMs: number;
  /** Event-loop utilization over the load, 0..1: near 1 means this process was the one saturated. */
  eventLoopUtilization: number;
  /** Main thread runnable but not running (Linux only): cores taken by other processes. */
  runQueueWaitMs?: number;
  /** CPU time of the main thread alone (Linux only); user + system minus this is worker and helper threads. */
  mainThreadCpuMs?: number;
  voluntaryContextSwitches: number;
  involuntaryContextSwitches: number;
  /** What the process wrote (Linux /proc/self/io, every thread): sockets, SQLite's WAL and checkpoints, logs. */
  writes?: WritesSpent;
}

export interface WritesSpent {
  /** write, pwrite, writev… system calls. */
  calls: number;
  /** Bytes those calls wrote. */
  bytes: number;
  /** Of which bytes the kernel sent on to the disk (the page cache's writeback, attributed to this process). */
  diskBytes: number;
}

export interface GeneratorReport {
  sent: number;
  approved: number;
  declinedByCode: Record<string, number>;
  failedByCode: Record<string, number>;
  /** From the first request to the last decision (or failure). */
  elapsedMs: number;
  /**
   * Approved payments only: request built and signed → verified decision in hand; in open loop, from the payment's
   * intended send time (so time spent behind schedule counts).
   */
  latency: LatencySummary;
  /** Open loop: how far behind schedule the generator itself fell at most (its own CPU starved), in ms. */
  behindMsMax?: number;
  /** Sends that repeated an earlier request's bytes after a timeout or an outage. */
  retried: number;
  cpu: CpuSpent;
  profile?: ProfileSummary;
  /** The warm-up before it (SetupMessage.warmupMs), counted apart; absent without one. */
  warmup?: WarmupReport;
}

/** What the warm-up did: its payments are in the ledger and the node's counts, not in the measured figures. */
export type WarmupReport = Pick<GeneratorReport, "sent" | "approved" | "declinedByCode" | "failedByCode" | "elapsedMs" | "latency">;

/** Approved and declined over the whole run, warm-up included: what the ledger and the node's /metrics hold. */
export function wholeRunCounts(report: GeneratorReport): Pick<GeneratorReport, "approved" | "declinedByCode"> {
  const declinedByCode = { ...report.declinedByCode };
  for (const [key, count] of Object.entries(report.warmup?.declinedByCode ?? {})) declinedByCode[key] = (declinedByCode[key] ?? 0) + count;
  return { approved: report.approved + (report.warmup?.approved ?? 0), declinedByCode };
}

export type GeneratorMessage =
  | { type: "ready"; connectMs: number }
  | { type: "warmed" }
  | { type: "done"; report: GeneratorReport }
  | { type: "failed"; message: string; code?: number };
