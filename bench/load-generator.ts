/**
 * The load generator, run as its own process (forked by bench/run.ts) so it has its own core: N simulated
 * hubs, each a HubLink with its own mTLS certificate under the simulator's hub client (requests signed once by
 * HubRequestSigner, sent in seq order, retried with the same bytes), each keeping W payments in flight. Every
 * payment is what a real tap produces: a SimWallet's HCE cryptogram (wallet key, fresh ATC and unpredictable
 * number) inside a request sealed with the hub key; every decision is verified with the service key.
 */
import { createPrivateKey } from "node:crypto";
import { performance } from "node:perf_hooks";
import { ErrorCode, asTapwireError, errorCodeName } from "../protocol/errors.ts";
import { importPublicPem } from "../protocol/keys.ts";
import { HubLink } from "../firmware-bridge/mqtt/hub-link.ts";
import { HubRequestSigner } from "../simulator/hub-client/request-signer.ts";
import { SimHubClient } from "../simulator/hub-client/sim-hub-client.ts";
import { SimWallet, atcMax } from "../simulator/hub-client/sim-wallet.ts";
import type { GeneratorMessage, GeneratorReport, HubIdentity, ParentMessage, SetupMessage, WarmupReport } from "./generator-protocol.ts";
import { CpuProfile } from "./profile.ts";
import { CpuMeter, LatencyRecorder, countInto } from "./stats.ts";

/** Hubs connect in waves: the broker's listen backlog and TLS handshakes stay well inside their limits. */
const connectWaveSize = 16;
/** Sends of one request: a timeout or an outage is retried with the same bytes, but a bench must not hang on it. */
const attemptsMax = 3;

/**
 * One hub and the wallets only it charges, so seq and every ATC move forward in the order requests go out. With
 * `lanes` > 1 lane k charges wallets k, k + lanes, k + 2·lanes… only (SetupMessage.walletPerLane).
 */
class SimulatedHub {
  /** For each lane, the index of the wallet it charges now. */
  private readonly walletIndexByLane: number[];

  constructor(
    readonly link: HubLink,
    readonly client: SimHubClient,
    private readonly signer: HubRequestSigner,
    private readonly wallets: readonly SimWallet[],
    private readonly lanes: number,
  ) {
    this.walletIndexByLane = Array.from({ length: lanes }, (_, lane) => lane);
  }

  /** The next payment from the lane's first wallet with ATCs left; undefined once all of the lane's wallets are spent. */
  nextPayment(amountMinor: number, lane: number) {
    const own = lane % this.lanes;
    let index = this.walletIndexByLane[own]!;
    while (index < this.wallets.length && this.wallets[index]!.atc > atcMax) index += this.lanes;
    this.walletIndexByLane[own] = index;
    const wallet = this.wallets[index];
    return wallet === undefined ? undefined : this.signer.payment(wallet, amountMinor);
  }
}

class LoadRun {
  private sent = 0;
  private approved = 0;
  private readonly declinedByCode: Record<string, number> = {};
  private readonly failedByCode: Record<string, number> = {};
  private readonly latencies: LatencyRecorder;
  private deadlineMs = 0;
  /** The hubs' retries before this run (a warm-up's), not counted in it. */
  private readonly retriedBefore: number;

  constructor(
    private readonly setup: SetupMessage,
    private readonly hubs: readonly SimulatedHub[],
  ) {
    this.latencies = new LatencyRecorder(setup.paymentsMax);
    this.retriedBefore = retriedSoFar(hubs);
  }

  async run(): Promise<Omit<GeneratorReport, "cpu" | "profile">> {
    const startedMs = performance.now();
    this.deadlineMs = startedMs + this.setup.durationMs;
    let behindMsMax: number | undefined;
    if (this.setup.ratePerSecond !== undefined) behindMsMax = await this.openLoop(startedMs, this.setup.ratePerSecond);
    else {
      const lanes: Array<Promise<void>> = [];
      for (const hub of this.hubs) for (let lane = 0; lane < this.setup.inflight; lane += 1) lanes.push(this.lane(hub, lane));
      await Promise.all(lanes);
    }
    return {
      ...(behindMsMax !== undefined ? { behindMsMax } : {}),
      sent: this.sent,
      approved: this.approved,
      declinedByCode: this.declinedByCode,
      failedByCode: this.failedByCode,
      elapsedMs: performance.now() - startedMs,
      latency: this.latencies.summary(),
      retried: retriedSoFar(this.hubs) - this.retriedBefore,
    };
  }

  /**
   * Payment i is due at start + i / rate and goes to the hubs in turn, whether or not earlier ones were answered
   * (each hub's client queues beyond its wire window); its latency counts from when it was due, as wrk2 measures.
   * Ends at the count or the deadline, then waits for the answers still out.
   */
  private async openLoop(startedMs: number, ratePerSecond: number): Promise<number> {
    const intervalMs = 1000 / ratePerSecond;
    // At most paymentsMax at once (each hub's client bounds its own queue and fails beyond it).
    const outstanding = new Set<Promise<void>>();
    let behindMsMax = 0;
    for (let index = 0; this.sent < this.setup.paymentsMax; index += 1) {
      const dueMs = startedMs + index * intervalMs;
      if (dueMs >= this.deadlineMs) break;
      const waitMs = dueMs - performance.now();
      if (waitMs > 1) await new Promise((resolve) => setTimeout(resolve, waitMs));
      behindMsMax = Math.max(behindMsMax, performance.now() - dueMs);
      const hub = this.hubs[index % this.hubs.length]!;
      // A hub's successive payments go to its lanes' wallets in turn.
      const request = hub.nextPayment(this.setup.amountMinor, Math.floor(index / this.hubs.length));
      if (request === undefined) {
        countInto(this.failedByCode, "WalletsSpent");
        break;
      }
      this.sent += 1;
      const answered: Promise<void> = this.answer(hub, request, dueMs).then(() => {
        outstanding.delete(answered);
      });
      outstanding.add(answered);
    }
    await Promise.all(outstanding);
    return behindMsMax;
  }

  /** Submits and counts the outcome, latency from `sinceMs`; false when the hub could not get it through at all. */
  private async answer(hub: SimulatedHub, request: Parameters<SimulatedHub["client"]["submit"]>[0], sinceMs: number): Promise<boolean> {
    try {
      const { decision } = await hub.client.submit(request);
      if (decision.status === "approved") {
        this.approved += 1;
        this.latencies.record(performance.now() - sinceMs);
      } else countInto(this.declinedByCode, `${decision.status}:${errorCodeName(decision.code)}`);
      return true;
    } catch (error) {
      countInto(this.failedByCode, errorCodeName(asTapwireError(error, ErrorCode.Offline).code));
      return false;
    }
  }

  /** One payment at a time; a hub's W lanes are its W payments in flight. Ends at the count or the deadline. */
  private async lane(hub: SimulatedHub, lane: number): Promise<void> {
    while (this.sent < this.setup.paymentsMax && performance.now() < this.deadlineMs) {
      const startedMs = performance.now();
      const request = hub.nextPayment(this.setup.amountMinor, lane);
      if (request === undefined) {
        countInto(this.failedByCode, "WalletsSpent");
        return;
      }
      this.sent += 1;
      // The client already retried; a hub that still cannot get through stays out for the rest of the run.
      if (!(await this.answer(hub, request, startedMs))) return;
    }
  }

}

function retriedSoFar(hubs: readonly SimulatedHub[]): number {
  return hubs.reduce((sum, hub) => sum + hub.client.stats.retried, 0);
}

/** The warm-up: the same load for `warmupMs`, its counts kept apart; the hubs' seqs and ATCs simply go on after it. */
async function warmUp(setup: SetupMessage, hubs: readonly SimulatedHub[]): Promise<WarmupReport> {
  const { sent, approved, declinedByCode, failedByCode, elapsedMs, latency } = await new LoadRun({ ...setup, durationMs: setup.warmupMs }, hubs).run();
  return { sent, approved, declinedByCode, failedByCode, elapsedMs, latency };
}

async function connectHubs(setup: SetupMessage): Promise<SimulatedHub[]> {
  const servicePublicKey = importPublicPem(setup.servicePublicKeyPem);
  const hubs = setup.hubs.map((identity: HubIdentity) => {
    const link = new HubLink({
      url: setup.url,
      tls: { caPem: setup.caPem, certPem: identity.certPem, keyPem: identity.keyPem },
      principal: { kind: "hub", id: identity.hubId },
      protocolVersion: setup.protocolVersion,
      servicePublicKey,
      requestsInFlightMax: setup.inflight,
      reconnectAttemptsMax: 3,
    });
    const client = new SimHubClient({ transport: link, inFlightMax: setup.inflight, decisionTimeoutMs: setup.decisionTimeoutMs, attemptsMax });
    const signer = new HubRequestSigner({ hubId: identity.hubId, merchantId: identity.merchantId, privateKey: createPrivateKey(identity.keyPem) });
    const wallets = identity.wallets.map(
      (wallet) => new SimWallet({ walletId: wallet.walletId, currency: setup.currency, privateKey: createPrivateKey(wallet.keyPem) }),
    );
    return new SimulatedHub(link, client, signer, wallets, setup.walletPerLane ? setup.inflight : 1);
  });
  for (let first = 0; first < hubs.length; first += connectWaveSize) {
    const wave = hubs.slice(first, first + connectWaveSize);
    for (const hub of wave) hub.link.start();
    await Promise.all(wave.map((hub) => hub.link.waitConnected(setup.connectTimeoutMs)));
  }
  return hubs;
}

function send(message: GeneratorMessage): void {
  process.send?.(message);
}

function nextMessage(): Promise<ParentMessage> {
  return new Promise((resolve) => process.once("message", (message) => resolve(message as ParentMessage)));
}

async function main(): Promise<void> {
  const setup = await nextMessage();
  if (setup.type !== "setup") throw new Error(`expected setup, got ${setup.type}`);
  const connectStartedMs = performance.now();
  const hubs = await connectHubs(setup);
  send({ type: "ready", connectMs: performance.now() - connectStartedMs });
  const go = await nextMessage();
  if (go.type !== "go") throw new Error(`expected go, got ${go.type}`);
  let warmup: WarmupReport | undefined;
  if (setup.warmupMs > 0) {
    warmup = await warmUp(setup, hubs);
    send({ type: "warmed" });
    const measure = await nextMessage();
    if (measure.type !== "measure") throw new Error(`expected measure, got ${measure.type}`);
  }
  const profile = setup.profile ? new CpuProfile() : undefined;
  await profile?.start();
  const meter = new CpuMeter();
  const result = await new LoadRun(setup, hubs).run();
  const cpu = meter.stop();
  const profileSummary = await profile?.stop();
  send({ type: "done", report: { ...result, cpu, ...(profileSummary ? { profile: profileSummary } : {}), ...(warmup ? { warmup } : {}) } });
  for (const hub of hubs) {
    hub.client.stop();
    await hub.link.stop();
  }
}

main().catch((error: unknown) => {
  const failure = asTapwireError(error, ErrorCode.Offline);
  send({ type: "failed", message: failure.message, code: failure.code });
  process.exitCode = 1;
}).finally(() => process.disconnect?.());
