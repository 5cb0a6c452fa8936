/**
 * The burst's load generator, its own process (forked by bench/burst.ts). Every request is signed before the clock
 * starts (a 10× burst is more than one core can sign live): a hub's requests in seq order, each with a wallet's HCE
 * cryptogram, as a real tap makes them. Phase one measures the node's capacity closed-loop; phase two sends at
 * `factor` times that, open loop, each request timed from its intended send time (no coordinated omission), and
 * never retried, so every shed request shows as shed.
 */
import { createPrivateKey, randomBytes, randomUUID, type KeyObject } from "node:crypto";
import { performance } from "node:perf_hooks";
import { HubLink } from "../firmware-bridge/mqtt/hub-link.ts";
import { sealMessage } from "../protocol/envelope.ts";
import { ErrorCode, asTapwireError, errorCodeName } from "../protocol/errors.ts";
import { importPublicPem } from "../protocol/keys.ts";
import { protocolVersion, type PaymentRequest } from "../protocol/messages.ts";
import { signCryptogram } from "../protocol/payer.ts";
import type { BurstGeneratorReport, BurstMessage, BurstSetup } from "./burst-protocol.ts";
import { LatencyRecorder, countInto } from "./stats.ts";

interface Signed {
  link: HubLink;
  requestId: string;
  payload: Buffer;
}

/** One hub's signing state: its key, seq and wallets (each ATC used once, in order). */
class HubSigner {
  private seq = 0;
  private atc = 0;
  private walletIndex = 0;

  constructor(
    private readonly hubId: string,
    private readonly merchantId: string,
    private readonly hubKey: KeyObject,
    private readonly wallets: ReadonlyArray<{ walletId: string; key: KeyObject }>,
    private readonly currency: string,
    private readonly amountMinor: number,
  ) {}

  sign(lifetimeMs: number): { requestId: string; payload: Buffer } {
    this.atc += 1;
    if (this.atc > 0xffff) {
      this.atc = 1;
      this.walletIndex += 1;
    }
    const wallet = this.wallets[this.walletIndex % this.wallets.length]!;
    const unpredictableNumber = new Uint8Array(randomBytes(4));
    const cryptogram = signCryptogram(
      { walletId: wallet.walletId, hubId: this.hubId, amountMinor: this.amountMinor, currency: this.currency, unpredictableNumber, atc: this.atc },
      wallet.key,
    );
    this.seq += 1;
    const iat = Date.now();
    const body: PaymentRequest = {
      type: "payment_request",
      v: protocolVersion,
      hubId: this.hubId,
      merchantId: this.merchantId,
      requestId: randomUUID(),
      seq: this.seq,
      iat,
      exp: iat + lifetimeMs,
      amountMinor: this.amountMinor,
      currency: this.currency,
      mode: "reader",
      payer: { kind: "hce", walletId: wallet.walletId, atc: this.atc, unpredictableNumber, cryptogram: new Uint8Array(cryptogram) },
    };
    return { requestId: body.requestId, payload: sealMessage(body, this.hubKey) };
  }
}

class Tally {
  readonly approved: LatencyRecorder;
  readonly shed: LatencyRecorder;
  readonly answersByCode: Record<string, number> = {};
  unanswered = 0;
  retryAfterGiven = 0;
  /** When the last approval came back (performance.now()), for the approved rate over the time approvals took. */
  lastApprovedAtMs: number | undefined;

  constructor(capacity: number) {
    this.approved = new LatencyRecorder(capacity);
    this.shed = new LatencyRecorder(capacity);
  }

  async track(request: Signed, intendedMs: number, timeoutMs: number): Promise<void> {
    try {
      const { decision } = await request.link.request(request.payload, request.requestId, timeoutMs);
      const answeredMs = performance.now() - intendedMs;
      countInto(this.answersByCode, decision.status === "approved" ? "approved" : errorCodeName(decision.code));
      if (decision.status === "approved") {
        this.approved.record(answeredMs);
        this.lastApprovedAtMs = performance.now();
      }
      else if (decision.code === ErrorCode.Overloaded || decision.code === ErrorCode.LedgerStorage) {
        this.shed.record(answeredMs);
        if (decision.retryAfterMs !== undefined) this.retryAfterGiven += 1;
      }
    } catch (error) {
      const failure = asTapwireError(error, ErrorCode.Offline);
      if (failure.code === ErrorCode.DecisionTimeout) this.unanswered += 1;
      else countInto(this.answersByCode, `failed:${errorCodeName(failure.code)}`);
    }
  }
}

async function connect(setup: BurstSetup): Promise<{ links: HubLink[]; signers: HubSigner[] }> {
  const servicePublicKey = importPublicPem(setup.servicePublicKeyPem);
  const links = setup.hubs.map(
    (hub) =>
      new HubLink({
        url: setup.url,
        tls: { caPem: setup.caPem, certPem: hub.certPem, keyPem: hub.keyPem },
        principal: { kind: "hub", id: hub.hubId },
        protocolVersion: 4,
        servicePublicKey,
        requestsInFlightMax: setup.inFlightPerHubMax,
        reconnectAttemptsMax: 0,
      }),
  );
  for (const link of links) link.start();
  await Promise.all(links.map((link) => link.waitConnected(setup.connectTimeoutMs)));
  const signers = setup.hubs.map(
    (hub) =>
      new HubSigner(
        hub.hubId,
        hub.merchantId,
        createPrivateKey(hub.keyPem),
        hub.wallets.map((wallet) => ({ walletId: wallet.walletId, key: createPrivateKey(wallet.keyPem) })),
        setup.currency,
        setup.amountMinor,
      ),
  );
  return { links, signers };
}

/** `count` requests round-robin over the hubs, each hub's in seq order: the order they will be sent in. */
function presign(links: HubLink[], signers: HubSigner[], count: number, lifetimeMs: number): Signed[] {
  const signed: Signed[] = [];
  for (let index = 0; index < count; index += 1) {
    const hub = index % links.length;
    signed.push({ link: links[hub]!, ...signers[hub]!.sign(lifetimeMs) });
  }
  return signed;
}

/** Phase one: every hub keeps `lanes` requests in flight for `durationMs`; the approved rate is the capacity. */
async function calibrate(pool: Signed[], hubs: number, lanes: number, durationMs: number, timeoutMs: number): Promise<number> {
  const perHub: Signed[][] = Array.from({ length: hubs }, () => []);
  pool.forEach((request, index) => perHub[index % hubs]!.push(request));
  const startedMs = performance.now();
  let approved = 0;
  const lane = async (queue: Signed[]) => {
    while (performance.now() - startedMs < durationMs) {
      const next = queue.shift();
      if (next === undefined) return;
      const reply = await next.link.request(next.payload, next.requestId, timeoutMs).catch(() => undefined);
      if (reply?.decision.status === "approved") approved += 1;
    }
  };
  await Promise.all(perHub.flatMap((queue) => Array.from({ length: lanes }, () => lane(queue))));
  return (approved * 1_000) / (performance.now() - startedMs);
}

/** Phase two: sends at `ratePerSecond` whatever comes back; every request is answered or times out. */
async function burst(requests: Signed[], ratePerSecond: number, timeoutMs: number): Promise<Tally> {
  const tally = new Tally(requests.length);
  const tracked: Array<Promise<void>> = [];
  const startedMs = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const dueNow = Math.min(requests.length, Math.floor(((performance.now() - startedMs) * ratePerSecond) / 1_000));
      for (; sent < dueNow; sent += 1) tracked.push(tally.track(requests[sent]!, startedMs + (sent * 1_000) / ratePerSecond, timeoutMs));
      if (sent >= requests.length) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  await Promise.all(tracked);
  return tally;
}

function send(message: BurstMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const setup = await new Promise<BurstSetup>((resolve) => process.once("message", (message) => resolve(message as BurstSetup)));
  const { links, signers } = await connect(setup);
  const calibrationPool = presign(links, signers, setup.calibrationRequestsMax, setup.requestLifetimeMs);
  const capacityPerSecond = await calibrate(calibrationPool, links.length, setup.calibrationLanes, setup.calibrationMs, setup.decisionTimeoutMs);
  const ratePerSecond = Math.max(1, Math.round(capacityPerSecond * setup.factor));
  const count = Math.min(setup.burstRequestsMax, Math.round((ratePerSecond * setup.burstMs) / 1_000));
  const requests = presign(links, signers, count, setup.requestLifetimeMs);
  send({ type: "burst-start", capacityPerSecond, ratePerSecond, requests: count });
  const startedMs = performance.now();
  const tally = await burst(requests, ratePerSecond, setup.decisionTimeoutMs);
  const report: BurstGeneratorReport = {
    capacityPerSecond,
    ratePerSecond,
    sent: count,
    elapsedMs: performance.now() - startedMs,
    approvingMs: (tally.lastApprovedAtMs ?? startedMs) - startedMs,
    answersByCode: tally.answersByCode,
    unanswered: tally.unanswered,
    retryAfterGiven: tally.retryAfterGiven,
    approvedLatency: tally.approved.summary(),
    shedLatency: tally.shed.summary(),
  };
  send({ type: "done", report });
  for (const link of links) await link.stop();
}

main()
  .catch((error: unknown) => {
    const failure = asTapwireError(error, ErrorCode.Offline);
    send({ type: "failed", message: failure.message });
    process.exitCode = 1;
  })
  .finally(() => process.disconnect?.());
