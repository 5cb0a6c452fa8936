import type { HubIdentity } from "./generator-protocol.ts";
import type { LatencySummary } from "./stats.ts";

/** Parent → burst generator: whom to connect as, and the two phases' bounds. */
export interface BurstSetup {
  url: string;
  caPem: string;
  servicePublicKeyPem: string;
  currency: string;
  amountMinor: number;
  hubs: HubIdentity[];
  /** Requests one hub link may wait on at once (the burst sends far more than a real hub would). */
  inFlightPerHubMax: number;
  connectTimeoutMs: number;
  decisionTimeoutMs: number;
  requestLifetimeMs: number;
  /** Phase one: closed loop, this many requests in flight per hub, for this long (bounded by the pool). */
  calibrationLanes: number;
  calibrationMs: number;
  calibrationRequestsMax: number;
  /** Phase two: factor × the measured capacity, open loop, for burstMs (bounded by burstRequestsMax). */
  factor: number;
  burstMs: number;
  burstRequestsMax: number;
}

export interface BurstGeneratorReport {
  capacityPerSecond: number;
  ratePerSecond: number;
  sent: number;
  /** From the burst's first intended send to its last answer or timeout. */
  elapsedMs: number;
  /** From the burst's first intended send to its last approval: the approved rate's window (goodput). */
  approvingMs: number;
  answersByCode: Record<string, number>;
  /** Requests with no answer within the decision timeout (shed at the edge, or still queued). */
  unanswered: number;
  /** Overloaded / LedgerStorage answers that carried a retryAfterMs. */
  retryAfterGiven: number;
  /** Intended send → verified answer. */
  approvedLatency: LatencySummary;
  shedLatency: LatencySummary;
}

export type BurstMessage =
  | { type: "burst-start"; capacityPerSecond: number; ratePerSecond: number; requests: number }
  | { type: "done"; report: BurstGeneratorReport }
  | { type: "failed"; message: string };
