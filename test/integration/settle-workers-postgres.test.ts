import { createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrCreateOperatorPki } from "../../broker/operator-pki.ts";
import { SettlementService } from "../../broker/settlement/settlement-service.ts";
import { systemClock, systemRandom } from "../../core/sources.ts";
import { HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { importPublicPem } from "../../protocol/keys.ts";
import { HubRequestSigner } from "../../simulator/hub-client/request-signer.ts";
import { SimHubClient, type Outcome } from "../../simulator/hub-client/sim-hub-client.ts";
import { SimWallet } from "../../simulator/hub-client/sim-wallet.ts";
import { mosquittoAcl } from "../../transport/mosquitto-config.ts";
import { startMosquitto, type RunningMosquitto } from "../support/mosquitto.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";
import { CliProcess, runCli } from "./settle-process.ts";

/**
 * Scale-out as an operator runs it: one PostgreSQL database, a private Mosquitto with the generated config and ACL
 * (MQTT 5, mTLS, client id bound to the certificate), and settlement workers as real `tapwire settle` processes in
 * one shared group, each with its own certificate. Under load from three hubs one worker is SIGKILLed and another
 * started; the hubs retry what went unanswered with the same bytes.
 *
 * Each hub serves three customers at once, so its seqs are in flight together and reach different workers out of
 * order; each customer's phone pays one sale after the other (its HCE counter only moves forward).
 */
const hubIds = ["h1", "h2", "h3"];
const customersPerHub = 3;
const paymentsPerCustomer = 40;
const killAfterApproved = 120;
/**
 * Sales a customer goes on making past paymentsPerCustomer while the replacement worker has decided none: its start
 * takes seconds, and once the service answered lone requests sooner (verify-pool.ts, the quiet-spell rule) the 240
 * sales left after the kill were all decided before it was ready.
 */
const extraPaymentsMax = 200;
const fundMinor = 100_000_000;
const workerNames = ["w1", "w2", "w3", "w4"];
const readyTimeoutMs = 30_000;
const allDecidedTimeoutMs = 120_000;

let dataDir: string;
let database: TestDatabase;
let mosquitto: RunningMosquitto;
const workers = new Map<string, CliProcess>();
const links: HubLink[] = [];
const clients: SimHubClient[] = [];

const data = () => ["--data-dir", dataDir];
const walletIds = () => hubIds.flatMap((hubId) => Array.from({ length: customersPerHub }, (_, i) => `${hubId}-c${i + 1}`));
const readOut = (principal: string, file: string) => readFileSync(join(dataDir, "out", principal, file), "utf8");

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "tapwire-workers-"));
  database = await createTestDatabase();
  await runCli(["db", "migrate", ...data(), "--store", database.url]);
  await runCli(["merchant", "add", ...data(), "--merchant-id", "m1", "--currency", "EUR"]);
  for (const hubId of hubIds) await runCli(["hub", "enroll", ...data(), "--hub-id", hubId, "--merchant-id", "m1", "--out", join(dataDir, "out", hubId)]);
  for (const walletId of walletIds()) {
    await runCli(["wallet", "enroll", ...data(), "--wallet-id", walletId, "--currency", "EUR", "--per-payment-max-minor", "10000", "--fund-minor", String(fundMinor), "--out", join(dataDir, "out", walletId)]);
  }
  const pki = await loadOrCreateOperatorPki(dataDir, systemClock, systemRandom);
  mosquitto = await startMosquitto({ caPem: pki.ca.certPem, certPem: pki.server.certPem, keyPem: pki.server.keyPem, acl: mosquittoAcl([], workerNames) });
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.stop();
  for (const link of links) await link.stop();
  for (const worker of workers.values()) worker.signal("SIGKILL");
  await mosquitto?.stop();
  await database?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function startWorker(name: string): Promise<CliProcess> {
  // TAPWIRE_LOG=info: a line per decision on stderr, to see that each worker took a share.
  const worker = CliProcess.spawn(["settle", ...data(), "--broker-url", mosquitto.url, "--protocol", "5", "--shared-group", "settle", "--instance", name], {
    env: { TAPWIRE_LOG: "info" },
  });
  workers.set(name, worker);
  await worker.waitOutput("tapwire settlement ready on", readyTimeoutMs);
  return worker;
}

async function connectHub(hubId: string): Promise<{ client: SimHubClient; signer: HubRequestSigner }> {
  const link = new HubLink({
    url: mosquitto.url,
    tls: { caPem: readOut(hubId, "ca.pem"), certPem: readOut(hubId, "cert.pem"), keyPem: readOut(hubId, "key.pem") },
    principal: { kind: "hub", id: hubId },
    protocolVersion: 5,
    servicePublicKey: importPublicPem(readOut(hubId, "service.pub.pem")),
    reconnectDelayMsMin: 50,
    reconnectDelayMsMax: 500,
    reconnectAttemptsMax: 400,
  });
  links.push(link);
  link.start();
  await link.waitConnected(10_000);
  // A decision not back in 3 s is asked again with the same bytes: what a hub does when the worker it reached died.
  const client = new SimHubClient({ transport: link, inFlightMax: 8, decisionTimeoutMs: 3_000, attemptsMax: 100, retryDelayMsMin: 50, retryDelayMsMax: 500 });
  clients.push(client);
  return { client, signer: new HubRequestSigner({ hubId, merchantId: "m1", privateKey: createPrivateKey(readOut(hubId, "key.pem")) }) };
}

describe("three settlement workers on one PostgreSQL database behind Mosquitto, one SIGKILLed under load", () => {
  it("charges every approved payment once, refuses no honest request, and the books sum to zero", async () => {
    for (const name of ["w1", "w2", "w3"]) await startWorker(name);
    const hubs = await Promise.all(hubIds.map(connectHub));

    let approvedSeen = 0;
    let replaced: Promise<CliProcess> | undefined;
    const killAndReplace = async (): Promise<CliProcess> => {
      const victim = workers.get("w2")!;
      victim.signal("SIGKILL");
      await victim.waitExit(5_000);
      return startWorker("w4");
    };
    const requests: Array<{ hubId: string; request: ReturnType<HubRequestSigner["payment"]> }> = [];
    const decided: Outcome[] = [];
    /** One customer's sales at one hub, one after the other. */
    const customer = async (hubIndex: number, walletId: string) => {
      const { client, signer } = hubs[hubIndex]!;
      const wallet = new SimWallet({ walletId, currency: "EUR", privateKey: createPrivateKey(readOut(walletId, "key.pem")) });
      const replacementDecided = () => workers.get("w4")?.stderr.includes('"msg":"decision"') === true;
      for (let index = 0; index < paymentsPerCustomer || (index < paymentsPerCustomer + extraPaymentsMax && !replacementDecided()); index += 1) {
        const request = signer.payment(wallet, 100 + ((index * 7) % 90));
        requests.push({ hubId: hubIds[hubIndex]!, request });
        const outcome = await client.submit(request);
        decided.push(outcome);
        if (outcome.decision.status === "approved") approvedSeen += 1;
        if (approvedSeen === killAfterApproved && replaced === undefined) replaced = killAndReplace();
      }
    };
    const customers = hubIds.flatMap((hubId, hubIndex) => Array.from({ length: customersPerHub }, (_, i) => customer(hubIndex, `${hubId}-c${i + 1}`)));
    await withTimeout(Promise.all(customers), allDecidedTimeoutMs, "deciding every payment");
    await replaced;

    // No honest request refused: not for its seq reaching one worker before an earlier one reached another.
    expect(decided.filter((outcome) => outcome.decision.status !== "approved").map((outcome) => outcome.decision.code)).toEqual([]);
    expect(workers.get("w2")!.exitSignal).toBe("SIGKILL");
    expect(workerNames.filter((name) => !workers.get(name)!.stderr.includes('"msg":"decision"'))).toEqual([]);
    expect(clients.reduce((sum, client) => sum + client.stats.retried, 0)).toBeGreaterThan(0);

    for (const client of clients) client.stop();
    for (const link of links.splice(0)) await link.stop();
    for (const worker of workers.values()) {
      if (worker.exited) continue;
      worker.signal("SIGTERM");
      await worker.waitExit(15_000);
    }
    const service = await openLedger();
    try {
      service.ledger.checkInvariants();
      const amountByRequest = new Map(requests.map(({ hubId, request }) => [`${hubId}/${request.requestId}`, request.body.amountMinor]));
      const approvedKeys = requests.map(({ hubId, request }) => `${hubId}/${request.requestId}`);
      const payments = service.paymentsOf("m1", 10_000);
      const paymentTransfers = service.ledger.transfers({ limit: 10_000 }).filter((transfer) => transfer.kind === "payment");
      const approvedMinor = [...amountByRequest.values()].reduce((sum, amount) => sum + amount, 0);

      expect(payments.map((payment) => `${payment.hubId}/${payment.requestId}`).sort()).toEqual(approvedKeys.sort());
      expect(new Set(paymentTransfers.map((transfer) => transfer.reference)).size).toBe(paymentTransfers.length);
      expect(paymentTransfers).toHaveLength(requests.length);
      for (const walletId of walletIds()) {
        const paidMinor = requests.filter(({ request }) => request.body.payer.kind === "hce" && request.body.payer.walletId === walletId).reduce((sum, { request }) => sum + request.body.amountMinor, 0);
        expect(service.ledger.balanceOf(`wallet:${walletId}`)).toBe(fundMinor - paidMinor);
      }
      expect(service.ledger.balanceOf("merchant:m1")).toBe(approvedMinor);
      expect(service.ledger.checkInvariants().balanceSumMinorByCurrency).toEqual({ EUR: 0 });
    } finally {
      await service.stop();
    }
  }, 240_000);
});

/** The shared ledger, opened once the workers are gone. */
async function openLedger(): Promise<SettlementService> {
  const pki = await loadOrCreateOperatorPki(dataDir, systemClock, systemRandom);
  const service = new SettlementService({ databasePath: database.url, serviceKey: pki.serviceSigningKey, privacyKek: pki.privacyKek, clock: systemClock, verifyWorkers: 0 });
  await service.start();
  return service;
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not done within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timedOut]).finally(() => clearTimeout(timer));
}
