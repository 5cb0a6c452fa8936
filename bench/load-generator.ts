/**
 * The load generator, run as its own process (forked by bench/run.ts) so it has its own core: N simulated
 * hubs, each a HubLink with its own mTLS certificate, each keeping W payments in flight. Every payment is what
 * a real tap produces: the wallet's HCE cryptogram (signed by the wallet key, fresh ATC and unpredictable
 * number) inside a payment request sealed with the hub key; every decision is verified with the service key.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { performance } from "node:perf_hooks";
import { sealMessage } from "../protocol/envelope.ts";
import { ErrorCode, asTapwireError, errorCodeName } from "../protocol/errors.ts";
import { importPublicPem } from "../protocol/keys.ts";
import { protocolVersion, type PaymentRequest } from "../protocol/messages.ts";
import { signCryptogram } from "../protocol/payer.ts";
import { systemRandom } from "../protocol/sources.ts";
import { HubLink } from "../firmware-bridge/mqtt/hub-link.ts";
import type { GeneratorMessage, GeneratorReport, HubIdentity, ParentMessage, SetupMessage } from "./generator-protocol.ts";
import { CpuProfile } from "./profile.ts";
import { CpuMeter, LatencyRecorder, countInto } from "./stats.ts";

const requestLifetimeMs = 60_000;
/** Hubs connect in waves: the broker's listen backlog and TLS handshakes stay well inside their limits. */
const connectWaveSize = 16;

/** One hub and the one wallet it charges: seq and ATC only move forward, in the order requests are published. */
class SimulatedHub {
  private seq = 0;
  private atc = 0;
  readonly hubKey: KeyObject;
  readonly walletKey: KeyObject;

  constructor(
    readonly identity: HubIdentity,
    readonly link: HubLink,
    private readonly currency: string,
    private readonly amountMinor: number,
  ) {
    this.hubKey = createPrivateKey(identity.keyPem);
    this.walletKey = createPrivateKey(identity.walletKeyPem);
  }

  /** Builds and signs the next payment; its seq and ATC are above every earlier one from this hub. */
  nextPayment(): { requestId: string; bytes: Buffer } {
    this.seq += 1;
    this.atc += 1;
    const { hubId, merchantId, walletId } = this.identity;
    const requestId = `${hubId}-r${this.seq}`;
    const unpredictableNumber = new Uint8Array(systemRandom.bytes(4));
    const cryptogram = new Uint8Array(signCryptogram(
      { walletId, hubId, amountMinor: this.amountMinor, currency: this.currency, unpredictableNumber, atc: this.atc },
      this.walletKey,
    ));
    const iat = Date.now();
    const body: PaymentRequest = {
      type: "payment_request",
      v: protocolVersion,
      hubId,
      merchantId,
      requestId,
      seq: this.seq,
      iat,
      exp: iat + requestLifetimeMs,
      amountMinor: this.amountMinor,
      currency: this.currency,
      mode: "reader",
      payer: { kind: "hce", walletId, atc: this.atc, unpredictableNumber, cryptogram },
    };
    return { requestId, bytes: sealMessage(body, this.hubKey) };
  }
}

class LoadRun {
  private sent = 0;
  private approved = 0;
  private readonly declinedByCode: Record<string, number> = {};
  private readonly failedByCode: Record<string, number> = {};
  private readonly latencies: LatencyRecorder;
  private deadlineMs = 0;

  constructor(
    private readonly setup: SetupMessage,
    private readonly hubs: readonly SimulatedHub[],
  ) {
    this.latencies = new LatencyRecorder(setup.paymentsMax);
  }

  async run(): Promise<Omit<GeneratorReport, "cpu" | "profile">> {
    const startedMs = performance.now();
    this.deadlineMs = startedMs + this.setup.durationMs;
    const lanes: Array<Promise<void>> = [];
    for (const hub of this.hubs) for (let lane = 0; lane < this.setup.inflight; lane += 1) lanes.push(this.lane(hub));
    await Promise.all(lanes);
    return {
      sent: this.sent,
      approved: this.approved,
      declinedByCode: this.declinedByCode,
      failedByCode: this.failedByCode,
      elapsedMs: performance.now() - startedMs,
      latency: this.latencies.summary(),
    };
  }

  /** One payment at a time; a hub's W lanes are its W payments in flight. Ends at the count or the deadline. */
  private async lane(hub: SimulatedHub): Promise<void> {
    while (this.sent < this.setup.paymentsMax && performance.now() < this.deadlineMs) {
      this.sent += 1;
      const startedMs = performance.now();
      const { requestId, bytes } = hub.nextPayment();
      try {
        const { decision } = await hub.link.request(bytes, requestId, this.setup.decisionTimeoutMs);
        if (decision.status === "approved") {
          this.approved += 1;
          this.latencies.record(performance.now() - startedMs);
        } else {
          countInto(this.declinedByCode, `${decision.status}:${errorCodeName(decision.code)}`);
        }
      } catch (error) {
        const failure = asTapwireError(error, ErrorCode.Offline);
        countInto(this.failedByCode, errorCodeName(failure.code));
        // A link that went away stays away for this run: stop this lane instead of spinning on Offline.
        if (failure.code === ErrorCode.Offline) return;
      }
    }
  }
}

async function connectHubs(setup: SetupMessage): Promise<SimulatedHub[]> {
  const servicePublicKey = importPublicPem(setup.servicePublicKeyPem);
  const hubs = setup.hubs.map((identity) => {
    const link = new HubLink({
      url: setup.url,
      tls: { caPem: setup.caPem, certPem: identity.certPem, keyPem: identity.keyPem },
      principal: { kind: "hub", id: identity.hubId },
      protocolVersion: 4,
      servicePublicKey,
      requestsInFlightMax: setup.inflight,
      reconnectAttemptsMax: 3,
    });
    return new SimulatedHub(identity, link, setup.currency, setup.amountMinor);
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
  const profile = setup.profile ? new CpuProfile() : undefined;
  await profile?.start();
  const meter = new CpuMeter();
  const result = await new LoadRun(setup, hubs).run();
  const cpu = meter.stop();
  const profileSummary = await profile?.stop();
  send({ type: "done", report: { ...result, cpu, ...(profileSummary ? { profile: profileSummary } : {}) } });
  for (const hub of hubs) await hub.link.stop();
}

main().catch((error: unknown) => {
  const failure = asTapwireError(error, ErrorCode.Offline);
  send({ type: "failed", message: failure.message, code: failure.code });
  process.exitCode = 1;
}).finally(() => process.disconnect?.());
