import { createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrCreateOperatorPki } from "../../broker/operator-pki.ts";
import { SettlementService } from "../../broker/settlement/settlement-service.ts";
import { HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { importPublicPem } from "../../protocol/keys.ts";
import { systemClock, systemRandom } from "../../core/sources.ts";
import { HubRequestSigner } from "../../simulator/hub-client/request-signer.ts";
import { SimHubClient, type Outcome } from "../../simulator/hub-client/sim-hub-client.ts";
import { SimWallet } from "../../simulator/hub-client/sim-wallet.ts";
import { CliProcess, freePort, runCli, waitPortClosed } from "./settle-process.ts";

const paymentsTotal = 300;
const killAfterApproved = 100;
const fundMinor = 10_000_000;
const readyTimeoutMs = 30_000;
const allDecidedTimeoutMs = 60_000;

let dataDir: string;
let port: number;
const processes: CliProcess[] = [];
let link: HubLink | undefined;
let client: SimHubClient | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "tapwire-sigkill-"));
  port = await freePort();
  const data = ["--data-dir", dataDir];
  await runCli(["merchant", "add", ...data, "--merchant-id", "m1", "--currency", "EUR"]);
  await runCli(["hub", "enroll", ...data, "--hub-id", "h1", "--merchant-id", "m1", "--out", join(dataDir, "out", "h1")]);
  await runCli(["wallet", "enroll", ...data, "--wallet-id", "w1", "--currency", "EUR", "--per-payment-max-minor", "10000", "--fund-minor", String(fundMinor), "--out", join(dataDir, "out", "w1")]);
});

afterAll(async () => {
  client?.stop();
  await link?.stop();
  for (const child of processes) child.signal("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

async function startSettle(): Promise<CliProcess> {
  const settle = CliProcess.spawn(["settle", "--data-dir", dataDir, "--port", String(port)]);
  processes.push(settle);
  await settle.waitOutput("tapwire settlement ready on", readyTimeoutMs);
  return settle;
}

function readOut(principal: string, file: string): string {
  return readFileSync(join(dataDir, "out", principal, file), "utf8");
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not done within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timedOut]).finally(() => clearTimeout(timer));
}

/** Opens the data dir's ledger once no settlement process runs on it any more. */
async function openLedger(): Promise<SettlementService> {
  const pki = await loadOrCreateOperatorPki(dataDir, systemClock, systemRandom);
  const service = new SettlementService({ databasePath: join(dataDir, "ledger.sqlite"), serviceKey: pki.serviceSigningKey, clock: systemClock });
  await service.start();
  return service;
}

describe("tapwire settle killed with SIGKILL mid-stream and restarted on the same data dir", () => {
  it("loses no approval and posts nothing twice: every payment the hub saw approved is in the ledger exactly once", async () => {
    const first = await startSettle();
    link = new HubLink({
      url: `mqtts://127.0.0.1:${port}`,
      tls: { caPem: readOut("h1", "ca.pem"), certPem: readOut("h1", "cert.pem"), keyPem: readOut("h1", "key.pem") },
      principal: { kind: "hub", id: "h1" },
      protocolVersion: 4,
      servicePublicKey: importPublicPem(readOut("h1", "service.pub.pem")),
      reconnectDelayMsMin: 50,
      reconnectDelayMsMax: 500,
      reconnectAttemptsMax: 400,
    });
    link.start();
    await link.waitConnected(10_000);
    const hubClient = new SimHubClient({ transport: link, inFlightMax: 4, decisionTimeoutMs: 3_000, attemptsMax: 100, retryDelayMsMin: 50, retryDelayMsMax: 500 });
    client = hubClient;
    const signer = new HubRequestSigner({ hubId: "h1", merchantId: "m1", privateKey: createPrivateKey(readOut("h1", "key.pem")) });
    const wallet = new SimWallet({ walletId: "w1", currency: "EUR", privateKey: createPrivateKey(readOut("w1", "key.pem")) });

    let approvedSeen = 0;
    let restarted: Promise<CliProcess> | undefined;
    const crashAndRestart = async (): Promise<CliProcess> => {
      first.signal("SIGKILL");
      await first.waitExit(5_000);
      await waitPortClosed(port, 5_000);
      return startSettle();
    };
    const requests = Array.from({ length: paymentsTotal }, (_, index) => signer.payment(wallet, 100 + (index % 50)));
    const outcomes = requests.map((request) =>
      hubClient.submit(request).then((outcome) => {
        if (outcome.decision.status === "approved") approvedSeen += 1;
        if (approvedSeen === killAfterApproved && restarted === undefined) restarted = crashAndRestart();
        return outcome;
      }),
    );
    const results = await withTimeout(Promise.allSettled(outcomes), allDecidedTimeoutMs, "deciding every payment");
    const second = await restarted!;

    const failures = results.filter((result) => result.status === "rejected");
    expect(failures).toEqual([]);
    const decided = results.map((result) => (result as PromiseFulfilledResult<Outcome>).value);
    const approved = decided.filter((outcome) => outcome.decision.status === "approved");
    expect(first.exited).toBe(true);
    expect(hubClient.stats.retried).toBeGreaterThan(0);
    expect(decided.filter((outcome) => outcome.decision.status !== "approved").map((outcome) => outcome.decision.code)).toEqual([]);

    hubClient.stop();
    await link.stop();
    link = undefined;
    second.signal("SIGTERM");
    await waitPortClosed(port, 10_000);
    await second.waitExit(10_000);
    const service = await openLedger();
    try {
      service.ledger.checkInvariants();
      const payments = service.paymentsOf("m1", 10_000);
      const paymentTransfers = service.ledger.transfers({ limit: 10_000 }).filter((transfer) => transfer.kind === "payment");
      const amountByRequest = new Map(requests.map((request) => [request.requestId, request.body.amountMinor]));
      const approvedMinor = approved.reduce((sum, outcome) => sum + amountByRequest.get(outcome.requestId)!, 0);

      expect(payments.map((payment) => payment.requestId).sort()).toEqual(approved.map((outcome) => outcome.requestId).sort());
      expect(new Set(paymentTransfers.map((transfer) => transfer.reference)).size).toBe(paymentTransfers.length);
      expect(paymentTransfers.length).toBe(approved.length);
      expect(service.ledger.transferCount()).toBe(approved.length + 1);
      for (const outcome of approved) {
        const payment = service.findPayment("h1", outcome.requestId)!;
        expect(payment.amountMinor).toBe(amountByRequest.get(outcome.requestId));
        expect(outcome.decision.receipt?.paymentId).toBe(`pay-${payment.paymentId}`);
      }
      expect(service.ledger.balanceOf("wallet:w1")).toBe(fundMinor - approvedMinor);
      expect(service.ledger.balanceOf("merchant:m1")).toBe(approvedMinor);
    } finally {
      await service.stop();
    }
  }, 120_000);
});
