import type { KeyObject } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { approvedVerdict } from "../broker/decisions/verdicts.ts";
import { DecisionSigner } from "../broker/settlement/decision-signer.ts";
import { EmbeddedBroker } from "../broker/mqtt/embedded-broker.ts";
import { ServiceLink } from "../broker/mqtt/service-link.ts";
import { MqttServiceTransport } from "../broker/mqtt/mqtt-service-transport.ts";
import { loadOrCreateOperatorPki, certifyPrincipal } from "../broker/operator-pki.ts";
import { SettlementService } from "../broker/settlement/settlement-service.ts";
import { MqttConnection } from "../transport/mqtt-connection.ts";
import { openSealed, readEnvelope, openMessage, sealMessage } from "../protocol/envelope.ts";
import { generateP256, privateKeyPem, publicKeyPem } from "../protocol/keys.ts";
import { decisionSchema, hubRequestSchema, protocolVersion, type PaymentRequest } from "../protocol/messages.ts";
import { signCryptogram, verifyCryptogram, type CryptogramInput } from "../protocol/payer.ts";
import { systemClock, systemRandom } from "../core/sources.ts";
import { topicFor } from "../protocol/topics.ts";
import { summarize } from "./stats.ts";

/**
 * Each step a payment goes through, timed on its own in this process (one core), as CPU µs per payment:
 * what the end-to-end numbers should add up to, and which step to attack first.
 */
export interface StageResult {
  stage: string;
  /** Which process pays for it in the end-to-end run. */
  side: "hub (generator)" | "settlement node";
  usPerPayment: number;
  note: string;
}

const cryptoIterations = 2_000;
const sqliteCommits = 200;
/** Roughly what one payment writes: transfer, two postings, payment record, stored decision, indexes. */
const batchRowBytes = 1_500;
const serviceStagePayments = 3_000;
const serviceStageBatchMax = 64;
const mqttRoundTrips = 6_000;
const mqttInFlight = 256;
const stageTimeoutMs = 30_000;

export function cpuUsPerOp(iterations: number, operation: (index: number) => void): number {
  for (let index = 0; index < Math.min(200, iterations); index += 1) operation(index);
  const before = process.cpuUsage();
  for (let index = 0; index < iterations; index += 1) operation(index);
  const spent = process.cpuUsage(before);
  return (spent.user + spent.system) / iterations;
}

interface Sample {
  hubKeys: { privateKey: KeyObject; publicKey: KeyObject };
  walletKeys: { privateKey: KeyObject; publicKey: KeyObject };
  input: CryptogramInput;
  request: PaymentRequest;
}

function sampleRequest(): Sample {
  const hubKeys = generateP256();
  const walletKeys = generateP256();
  const unpredictableNumber = new Uint8Array(4);
  const input: CryptogramInput = { walletId: "w1", hubId: "h1", amountMinor: 100, currency: "EUR", unpredictableNumber, atc: 1 };
  const cryptogram = new Uint8Array(signCryptogram(input, walletKeys.privateKey));
  const iat = Date.now();
  const request: PaymentRequest = {
    type: "payment_request", v: protocolVersion, hubId: "h1", merchantId: "m1", requestId: "h1-r1", seq: 1, iat, exp: iat + 60_000,
    amountMinor: 100, currency: "EUR", mode: "reader",
    payer: { kind: "hce", walletId: "w1", atc: 1, unpredictableNumber, cryptogram },
  };
  return { hubKeys, walletKeys, input, request };
}

function cryptoStages(): StageResult[] {
  const { hubKeys, walletKeys, input, request } = sampleRequest();
  const sealed = sealMessage(request, hubKeys.privateKey);
  const serviceKey = generateP256();
  const signer = new DecisionSigner(serviceKey.privateKey, 330_000);
  const summary = { principalKind: "hub" as const, hubId: "h1", requestId: "h1-r1", requestType: "payment_request", requestHash: new Uint8Array(32) };
  const receipt = { paymentId: "p1", merchantId: "m1", amountMinor: 100, currency: "EUR", payerMasked: "w…1", postedAtMs: Date.now() };
  const verdict = approvedVerdict({ receipt });
  const decision = signer.sign(summary, verdict, Date.now()).bytes;
  const cryptogram = request.payer.kind === "hce" ? request.payer.cryptogram : new Uint8Array(64);
  return [
    {
      stage: "sign HCE cryptogram (wallet key)",
      side: "hub (generator)",
      usPerPayment: cpuUsPerOp(cryptoIterations, () => signCryptogram(input, walletKeys.privateKey)),
      note: "ECDSA P-256 sign + CBOR",
    },
    {
      stage: "seal payment request (hub key)",
      side: "hub (generator)",
      usPerPayment: cpuUsPerOp(cryptoIterations, () => sealMessage(request, hubKeys.privateKey)),
      note: "CBOR + COSE_Sign1 ES256 sign",
    },
    {
      stage: "open + verify request (hub key)",
      side: "settlement node",
      usPerPayment: cpuUsPerOp(cryptoIterations, () => openMessage(readEnvelope(sealed), hubKeys.publicKey, hubRequestSchema)),
      note: "COSE verify + CBOR + zod",
    },
    {
      stage: "verify HCE cryptogram (wallet key)",
      side: "settlement node",
      usPerPayment: cpuUsPerOp(cryptoIterations, () => verifyCryptogram(input, cryptogram, walletKeys.publicKey)),
      note: "ECDSA P-256 verify",
    },
    {
      stage: "sign decision (service key)",
      side: "settlement node",
      usPerPayment: cpuUsPerOp(cryptoIterations, () => signer.sign(summary, verdict, Date.now())),
      note: "zod self-check + COSE sign",
    },
    {
      stage: "verify decision (service key)",
      side: "hub (generator)",
      usPerPayment: cpuUsPerOp(cryptoIterations, () => openSealed(decision, serviceKey.publicKey, decisionSchema)),
      note: "COSE verify + CBOR + zod",
    },
  ];
}

/**
 * The price of one durable commit (WAL, synchronous=FULL: an fsync) on the disk the bench runs on, for a
 * transaction about the size of a full batch's writes. Wall time, because the event loop waits for it.
 */
function sqliteCommitStage(dir: string): { commitMsP50: number; commitMsP99: number } {
  const db = new Database(join(dir, "commit.sqlite"));
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const row = Buffer.alloc(batchRowBytes, 1);
    const commit = db.transaction(() => {
      for (let index = 0; index < serviceStageBatchMax; index += 1) insert.run(row);
    });
    const commitMs = new Float64Array(sqliteCommits);
    for (let index = 0; index < sqliteCommits; index += 1) {
      const startedMs = performance.now();
      commit.immediate();
      commitMs[index] = performance.now() - startedMs;
    }
    const summary = summarize(commitMs.sort());
    return { commitMsP50: summary.p50Ms, commitMsP99: summary.p99Ms };
  } finally {
    db.close();
  }
}

/** SettlementService.handle in process, no MQTT: admission, gates, postings, decisions, group commit. */
async function serviceStage(dir: string): Promise<{ usPerPayment: number; wallMsPerPayment: number }> {
  const serviceKeys = generateP256();
  const service = new SettlementService({
    databasePath: join(dir, "service.sqlite"),
    serviceKey: serviceKeys.privateKey,
    clock: systemClock,
    batchMax: serviceStageBatchMax,
    queueMax: serviceStagePayments,
    // One hub sends them all at once: at the default 64 a sender may queue, the rest would be shed, and the stage
    // would time cheap refusals (it read 0 µs beside the crypto stages).
    queuedPerSenderMax: serviceStagePayments,
    // One core, as every stage here: the signature checks stay on this thread (the load shows the workers).
    verifyWorkers: 0,
  });
  await service.start();
  try {
    const { hubKeys, walletKeys } = sampleRequest();
    service.registry.enrollMerchant({ merchantId: "m1", currency: "EUR" });
    service.registry.enrollHub({ hubId: "h1", merchantId: "m1", publicKeyPem: publicKeyPem(hubKeys.publicKey), certificateSerial: "01" });
    service.registry.enrollWallet({ walletId: "w1", publicKeyPem: publicKeyPem(walletKeys.publicKey), currency: "EUR", perPaymentMaxMinor: 100 });
    service.registry.fundWallet("w1", serviceStagePayments * 100);
    const requests = Array.from({ length: serviceStagePayments }, (_, index) => {
      const seq = index + 1;
      const unpredictableNumber = new Uint8Array(systemRandom.bytes(4));
      const input = { walletId: "w1", hubId: "h1", amountMinor: 100, currency: "EUR", unpredictableNumber, atc: seq };
      const cryptogram = new Uint8Array(signCryptogram(input, walletKeys.privateKey));
      const iat = Date.now();
      const body: PaymentRequest = {
        type: "payment_request", v: protocolVersion, hubId: "h1", merchantId: "m1", requestId: `h1-r${seq}`, seq, iat, exp: iat + 60_000,
        amountMinor: 100, currency: "EUR", mode: "reader", payer: { kind: "hce", walletId: "w1", atc: seq, unpredictableNumber, cryptogram },
      };
      return sealMessage(body, hubKeys.privateKey);
    });
    const cpuBefore = process.cpuUsage();
    const startedMs = performance.now();
    const answers = await Promise.all(requests.map((payload) => service.handle({ kind: "hub", id: "h1", payload })));
    const wallMs = performance.now() - startedMs;
    const cpu = process.cpuUsage(cpuBefore);
    const approved = answers.filter((answer) => openSealed(answer[0]!.payload, serviceKeys.publicKey, decisionSchema).body.status === "approved").length;
    if (approved !== serviceStagePayments) throw new Error(`service stage: ${approved} of ${serviceStagePayments} payments approved`);
    return { usPerPayment: (cpu.user + cpu.system) / serviceStagePayments, wallMsPerPayment: wallMs / serviceStagePayments };
  } finally {
    await service.stop();
  }
}

/**
 * Request/response through the embedded broker with no crypto at all: a bare MQTT client as the hub, the
 * real ServiceLink echoing the payload back. Broker, service link and client all run in this process, so the
 * figure is the whole MQTT + TLS cost of one payment, both ends together.
 */
export async function mqttStage(dir: string): Promise<{ usPerRoundTrip: number }> {
  const pki = await loadOrCreateOperatorPki(dir, systemClock, systemRandom);
  const broker = new EmbeddedBroker({ tls: { caPem: pki.ca.certPem, certPem: pki.server.certPem, keyPem: pki.server.keyPem }, port: 0, isActive: () => true });
  await broker.start();
  const service = new ServiceLink({
    transport: new MqttServiceTransport({
      url: broker.url,
      tls: { caPem: pki.ca.certPem, certPem: pki.service.certPem, keyPem: pki.service.keyPem },
      protocolVersion: 4,
    }),
    handler: (inbound) => Promise.resolve([{ kind: inbound.kind, id: inbound.id, payload: Buffer.from(inbound.payload), expiresAtMs: Date.now() + 60_000 }]),
  });
  const hubKeys = generateP256();
  const certPem = (await certifyPrincipal(pki, { kind: "hub", id: "h1" }, hubKeys.publicKey, systemClock, systemRandom)).certPem;
  let received = 0;
  let sent = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const reqTopic = topicFor("hub", "h1", "req");
  const payload = Buffer.alloc(420, 7);
  const hub: MqttConnection = new MqttConnection({
    url: broker.url,
    tls: { caPem: pki.ca.certPem, certPem, keyPem: privateKeyPem(hubKeys.privateKey) },
    clientId: "hubs/h1",
    protocolVersion: 4,
    subscriptions: [{ filter: topicFor("hub", "h1", "res"), qos: 1 }],
    onMessage: () => {
      received += 1;
      if (received === mqttRoundTrips) finish();
      else if (sent < mqttRoundTrips) publishNext();
    },
  });
  const publishNext = () => {
    sent += 1;
    void hub.publish(reqTopic, payload, { qos: 1 }).catch(() => undefined);
  };
  try {
    service.start();
    await service.waitConnected(stageTimeoutMs);
    hub.start();
    await hub.waitConnected(stageTimeoutMs);
    const cpuBefore = process.cpuUsage();
    for (let lane = 0; lane < mqttInFlight; lane += 1) publishNext();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("MQTT stage timed out")), stageTimeoutMs)))]);
    clearTimeout(timer);
    const cpu = process.cpuUsage(cpuBefore);
    return { usPerRoundTrip: (cpu.user + cpu.system) / mqttRoundTrips };
  } finally {
    await hub.stop();
    await service.stop();
    await broker.stop();
  }
}

export async function measureStages(): Promise<StageResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "tapwire-bench-stages-"));
  try {
    const crypto = cryptoStages();
    const commit = sqliteCommitStage(dir);
    const service = await serviceStage(dir);
    const serviceCrypto = crypto.filter((s) => s.side === "settlement node").reduce((sum, s) => sum + s.usPerPayment, 0);
    const mqtt = await mqttStage(dir);
    return [
      ...crypto,
      {
        stage: "durable commit (WAL, synchronous=FULL)",
        side: "settlement node",
        usPerPayment: (commit.commitMsP50 * 1000) / serviceStageBatchMax,
        note: `wall, not CPU: ${commit.commitMsP50.toFixed(2)} ms p50, ${commit.commitMsP99.toFixed(2)} ms p99 per ${serviceStageBatchMax}-payment commit; the event loop waits`,
      },
      {
        stage: "ledger, gates, store (service minus its crypto)",
        side: "settlement node",
        usPerPayment: Math.max(0, service.usPerPayment - serviceCrypto),
        note: `whole SettlementService.handle: ${service.usPerPayment.toFixed(0)} µs CPU, ${(service.wallMsPerPayment * 1000).toFixed(0)} µs wall per payment`,
      },
      {
        stage: "MQTT+TLS round trip, no crypto (broker + both links)",
        side: "settlement node",
        usPerPayment: mqtt.usPerRoundTrip,
        note: `${mqttInFlight} in flight; includes the hub-side client, which the real run pays in the generator`,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
