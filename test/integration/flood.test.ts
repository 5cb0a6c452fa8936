import { createPrivateKey } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enrollHub, enrollWallet, type EnrolmentBundle } from "../../broker/enrolment.ts";
import { loadOrCreateOperatorPki } from "../../broker/operator-pki.ts";
import { SettlementService } from "../../broker/settlement/settlement-service.ts";
import { HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { ErrorCode, asTapwireError } from "../../protocol/errors.ts";
import { importPublicPem } from "../../protocol/keys.ts";
import type { Decision } from "../../protocol/messages.ts";
import { systemClock, systemRandom } from "../../core/sources.ts";
import { HubRequestSigner, type SignedRequest } from "../../simulator/hub-client/request-signer.ts";
import { SimWallet } from "../../simulator/hub-client/sim-wallet.ts";
import { CliProcess, freePort, waitPortClosed } from "./settle-process.ts";

const hubs = 16;
/** 9 600 requests at once: several seconds of the node's capacity, and within one ledger listing (settlementListMax). */
const requestsPerHub = 600;
const amountMinor = 100;
/**
 * Shorter than the hubs' 60 s default so that requests shed without an answer time out within this test's
 * budget; what is checked (an answer or a timeout within the lifetime, nothing executed after exp) is the same.
 */
const requestLifetimeMs = 15_000;
/**
 * The settle process's stated memory bound under any burst. Where it comes from: the service queue (2 048
 * requests) and the link's in-flight bound (4 096 handler calls) hold at most 4 096 requests of at most 8 KiB
 * (messageBytesMax), aedes reads a client's next packet only once the last one is routed, and everything past
 * those bounds is refused instead of held. Measured on a 2-core VM: ≈180 MB idle, ≈365 MB peak at 10× capacity
 * (1 033 MB without admission).
 */
const settlePeakRssMbMax = 512;
const readyTimeoutMs = 30_000;

let dataDir: string;
let port: number;
let settle: CliProcess | undefined;
const links: HubLink[] = [];
const identities: Array<{ hub: EnrolmentBundle; hubId: string; wallet: EnrolmentBundle; walletId: string }> = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "tapwire-flood-"));
  port = await freePort();
  const service = await openService();
  try {
    const context = { pki: await loadOrCreateOperatorPki(dataDir, systemClock, systemRandom), registry: service.registry, clock: systemClock, random: systemRandom };
    service.registry.enrollMerchant({ merchantId: "m1", currency: "EUR" });
    for (let index = 1; index <= hubs; index += 1) {
      const hubId = `h${index}`;
      const walletId = `w${index}`;
      const hub = await enrollHub(context, { hubId, merchantId: "m1" });
      const wallet = await enrollWallet(context, { walletId, currency: "EUR", perPaymentMaxMinor: amountMinor });
      service.registry.fundWallet(walletId, requestsPerHub * amountMinor);
      identities.push({ hub, hubId, wallet, walletId });
    }
  } finally {
    await service.stop();
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(links.map((link) => link.stop()));
  settle?.signal("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

async function openService(): Promise<SettlementService> {
  const pki = await loadOrCreateOperatorPki(dataDir, systemClock, systemRandom);
  const service = new SettlementService({ databasePath: join(dataDir, "ledger.sqlite"), serviceKey: pki.serviceSigningKey, clock: systemClock });
  await service.start();
  return service;
}

type Fate = { request: SignedRequest; decision: Decision; answeredAtMs: number } | { request: SignedRequest; failure: number };

describe("tapwire settle flooded far past its capacity (real process, embedded broker over mTLS)", () => {
  it("answers every request or lets it time out within its lifetime, sheds with a retry-after, executes nothing late, and stays within its memory bound", async () => {
    settle = CliProcess.spawn(["settle", "--data-dir", dataDir, "--port", String(port)]);
    await settle.waitOutput("tapwire settlement ready on", readyTimeoutMs);
    const idleRssMb = settle.peakRssKb() / 1_024;
    for (const { hub, hubId } of identities) {
      const link = new HubLink({
        url: `mqtts://127.0.0.1:${port}`,
        tls: { caPem: hub.caPem, certPem: hub.certPem, keyPem: hub.keyPem! },
        principal: { kind: "hub", id: hubId },
        protocolVersion: 4,
        servicePublicKey: importPublicPem(hub.servicePublicKeyPem),
        requestsInFlightMax: requestsPerHub,
      });
      links.push(link);
      link.start();
    }
    await Promise.all(links.map((link) => link.waitConnected(10_000)));
    // Signed before the clock starts, in each hub's seq order, as the hubs would have signed them.
    const perHub = identities.map(({ hub, hubId, wallet, walletId }) => {
      const signer = new HubRequestSigner({ hubId, merchantId: "m1", privateKey: createPrivateKey(hub.keyPem!), requestLifetimeMs });
      const payer = new SimWallet({ walletId, currency: "EUR", privateKey: createPrivateKey(wallet.keyPem!) });
      return Array.from({ length: requestsPerHub }, () => signer.payment(payer, amountMinor));
    });

    // Open loop: every hub sends all of its requests at once, each waiting at most until its own exp.
    const fates = await Promise.all(
      perHub.flatMap((requests, index) =>
        requests.map(async (request): Promise<Fate> => {
          try {
            const { decision } = await links[index]!.request(request.bytes, request.requestId, request.body.exp - Date.now());
            return { request, decision, answeredAtMs: Date.now() };
          } catch (error) {
            return { request, failure: asTapwireError(error, ErrorCode.Offline).code };
          }
        }),
      ),
    );
    const peakRssMb = settle.peakRssKb() / 1_024;

    const answered = fates.filter((fate) => "decision" in fate);
    const approved = answered.filter((fate) => fate.decision.status === "approved");
    const shed = answered.filter((fate) => fate.decision.code === ErrorCode.Overloaded);
    // Only these ends: approved, shed with a signed Overloaded, expired while queued, or no answer before exp.
    expect(new Set(answered.map((fate) => (fate.decision.status === "approved" ? "approved" : fate.decision.code)))).toSatisfy((codes: Set<unknown>) =>
      [...codes].every((code) => code === "approved" || code === ErrorCode.Overloaded || code === ErrorCode.MessageExpired),
    );
    expect(fates.filter((fate) => "failure" in fate).map((fate) => ("failure" in fate ? fate.failure : 0))).toSatisfy((codes: number[]) =>
      codes.every((code) => code === ErrorCode.DecisionTimeout),
    );
    expect(approved.length).toBeGreaterThan(0);
    expect(shed.length).toBeGreaterThan(0);
    for (const fate of shed) expect(fate.decision.retryAfterMs).toBeGreaterThan(0);
    for (const fate of answered) expect(fate.answeredAtMs).toBeLessThanOrEqual(fate.request.body.exp + 1_000);
    expect(peakRssMb).toBeLessThan(settlePeakRssMbMax);
    process.stdout.write(
      `flood: ${fates.length} requests, ${approved.length} approved, ${shed.length} shed with retry-after, ` +
        `${fates.length - answered.length} unanswered; settle RSS ${Math.round(idleRssMb)} MB idle, ${Math.round(peakRssMb)} MB peak\n`,
    );

    settle.signal("SIGTERM");
    await waitPortClosed(port, 10_000);
    await settle.waitExit(10_000);
    const service = await openService();
    try {
      service.ledger.checkInvariants();
      const expByRequest = new Map(fates.map((fate) => [fate.request.requestId, fate.request.body.exp]));
      const payments = service.paymentsOf("m1", hubs * requestsPerHub);
      // Nothing executed after its exp, nothing twice, every approval the hubs saw is in the ledger.
      for (const payment of payments) expect(payment.capturedAtMs).toBeLessThanOrEqual(expByRequest.get(payment.requestId)!);
      expect(new Set(payments.map((payment) => payment.requestId)).size).toBe(payments.length);
      const paid = new Set(payments.map((payment) => payment.requestId));
      expect(approved.filter((fate) => !paid.has(fate.request.requestId))).toEqual([]);
      // A payment no hub heard approved can only be one whose answer came after its hub stopped waiting.
      const heard = new Set([...approved.map((fate) => fate.request.requestId), ...fates.filter((fate) => "failure" in fate).map((fate) => fate.request.requestId)]);
      expect(payments.filter((payment) => !heard.has(payment.requestId))).toEqual([]);
      expect(service.ledger.balanceOf("merchant:m1")).toBe(payments.length * amountMinor);
    } finally {
      await service.stop();
    }
  }, 180_000);
});
