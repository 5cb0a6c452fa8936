import { generateP256 } from "../../protocol/keys.ts";
import { afterEach, describe, expect, it, vi } from "vitest";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import { ManualClock } from "../../core/sources.ts";
import { walletAccountId } from "../../broker/ledger/ledger.ts";
import { SettlementService } from "../../broker/settlement/settlement-service.ts";
import { verifyGatherMsMax } from "../../broker/settlement/verify-pool.ts";
import type { PayerVerifier } from "../../broker/settlement/payer-verifier.ts";
import { SettlementFixture, openDecision } from "./fixtures.ts";

let f: SettlementFixture | undefined;

afterEach(async () => {
  await f?.close();
  f = undefined;
});

function configCode(options: Partial<ConstructorParameters<typeof SettlementService>[0]>): number | undefined {
  try {
    new SettlementService({ databasePath: ":memory:", serviceKey: generateP256().privateKey, clock: new ManualClock(), ...options });
  } catch (error) {
    if (isTapwireError(error)) return error.code;
    throw error;
  }
  return undefined;
}

/** Polls a condition the service answers (no event to wait on); bounded. */
async function until(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  for (let waitedMs = 0; !condition(); waitedMs += 5) {
    if (waitedMs >= timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("settlement service", () => {
  it("validates its options with units", () => {
    expect(configCode({})).toBeUndefined();
    expect(configCode({ batchMax: 0 })).toBe(ErrorCode.ConfigInvalid);
    expect(configCode({ queueMax: 1.5 })).toBe(ErrorCode.ConfigInvalid);
    expect(configCode({ decisionTtlMs: 1_000 })).toBe(ErrorCode.ConfigInvalid);
    expect(configCode({ clockSkewMs: -1 })).toBe(ErrorCode.ConfigInvalid);
    expect(configCode({ serviceKey: generateP256().publicKey })).toBe(ErrorCode.ConfigInvalid);
    expect(configCode({ databasePath: "" })).toBe(ErrorCode.ConfigInvalid);
    expect(configCode({ verifyGatherMs: 0 })).toBeUndefined();
    expect(configCode({ verifyGatherMs: verifyGatherMsMax })).toBeUndefined();
    expect(configCode({ verifyGatherMs: verifyGatherMsMax + 1 })).toBe(ErrorCode.ConfigInvalid);
    expect(configCode({ verifyGatherMs: 0.5 })).toBe(ErrorCode.ConfigInvalid);
  });

  it("takes the protocol contract as the floor of its request lifetime and clock skew: more lenient, never stricter", () => {
    expect(configCode({ clockSkewMs: contract.clockSkewMs - 1 })).toBe(ErrorCode.ConfigInvalid);
    expect(configCode({ requestLifetimeMsMax: contract.requestLifetimeMsMax - 1 })).toBe(ErrorCode.ConfigInvalid);
    expect(configCode({ clockSkewMs: contract.clockSkewMs, requestLifetimeMsMax: contract.requestLifetimeMsMax })).toBeUndefined();
    expect(configCode({ clockSkewMs: 2 * contract.clockSkewMs, requestLifetimeMsMax: 3 * contract.requestLifetimeMsMax })).toBeUndefined();
  });

  it("accepts a request living as long as the contract allows, and refuses one beyond it", async () => {
    f = await SettlementFixture.create();
    const iat = f.clock.nowMs();

    const atContract = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100, { exp: iat + contract.requestLifetimeMsMax }).bytes);
    const beyond = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100, { exp: iat + contract.requestLifetimeMsMax + 1 }).bytes);

    expect(atContract.status).toBe("approved");
    expect(beyond.code).toBe(ErrorCode.MessageLifetimeTooLong);
  });

  it("runs on an in-memory database", async () => {
    const clock = new ManualClock();
    const service = new SettlementService({ databasePath: ":memory:", serviceKey: generateP256().privateKey, clock });
    await service.start();

    service.registry.enrollMerchant({ merchantId: "m1", currency: "EUR" });

    expect(service.registry.listMerchants()).toHaveLength(1);
    await service.stop();
  });

  it("keeps one transfer and identical bytes when copies of a request land in different batches", async () => {
    f = await SettlementFixture.create({ service: { batchMax: 2 } });
    const request = f.hub.paymentRequest(f.wallet, 100);

    const answers = await Promise.all(Array.from({ length: 5 }, () => f!.fromHub(f!.hub, request.bytes)));

    expect(new Set(answers.map((a) => a[0]!.payload.toString("hex"))).size).toBe(1);
    expect(f.service.ledger.balanceOf(walletAccountId("w1"))).toBe(9_900);
  });

  it("declines with Overloaded beyond queueMax without storing, so a later resend is processed", async () => {
    f = await SettlementFixture.create({ service: { queueMax: 2 } });
    const requests = Array.from({ length: 4 }, () => f!.hub.paymentRequest(f!.wallet, 100));

    const answers = await Promise.all(requests.map((r) => f!.fromHub(f!.hub, r.bytes)));
    const resend = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100).bytes);

    expect(answers.map((a) => f!.open(a[0]!.payload).code)).toEqual([0, 0, ErrorCode.Overloaded, ErrorCode.Overloaded]);
    expect(f.open(answers[2]![0]!.payload).requestId).toBe(requests[2]!.body.requestId);
    expect(resend.status).toBe("approved");
  });

  it("drains queued messages on stop, then refuses new ones with ServiceUnavailable", async () => {
    f = await SettlementFixture.create();
    const pending = [f.fromHub(f.hub, f.hub.paymentRequest(f.wallet, 100).bytes), f.fromHub(f.hub, f.hub.paymentRequest(f.wallet, 200).bytes)];

    await f.service.stop();
    const answers = await Promise.all(pending);
    const late = await f.fromHub(f.hub, f.hub.paymentRequest(f.wallet, 100).bytes).catch((error: unknown) => error);

    expect(answers.map((a) => f!.open(a[0]!.payload).status)).toEqual(["approved", "approved"]);
    expect(late).toBeInstanceOf(TapwireError);
    expect((late as TapwireError).code).toBe(ErrorCode.ServiceUnavailable);
    await f.service.start();
    expect(f.service.ledger.balanceOf(walletAccountId("w1"))).toBe(9_700);
  });

  it("signs decisions that verify with the service's public key and expire after decisionTtlMs", async () => {
    f = await SettlementFixture.create({ service: { decisionTtlMs: 400_000 } });

    const outbound = await f.fromHub(f.hub, f.hub.paymentRequest(f.wallet, 100).bytes);
    const decision = openDecision(outbound[0]!.payload, f.service.publicKey);

    expect(decision.exp - decision.iat).toBe(400_000);
    expect(outbound[0]!.expiresAtMs).toBe(decision.exp);
  });

  it("hands payments to a plugged-in payer verifier, with its own table in the settlement database", async () => {
    const pairings = { name: "test-glasses", migrations: [{ version: 1, description: "pairings", sql: "CREATE TABLE test_pairings (glasses_id TEXT PRIMARY KEY, wallet_id TEXT NOT NULL) STRICT" }] };
    const glasses: PayerVerifier = {
      kind: "glasses",
      verify(request, { registry, db }) {
        if (request.payer.kind !== "glasses") throw new TapwireError("not glasses", ErrorCode.UnsupportedRequest);
        const walletId = db.prepare<[string], string>("SELECT wallet_id FROM test_pairings WHERE glasses_id = ?").pluck().get(request.payer.glassesId);
        if (walletId !== request.payer.walletId) throw new TapwireError("glasses not paired", ErrorCode.PayerCredentialInvalid);
        return registry.getWallet(walletId);
      },
    };
    f = await SettlementFixture.create({ service: { payerVerifiers: [glasses], schemaComponents: [pairings] } });
    f.service.database.prepare("INSERT INTO test_pairings VALUES ('g1', 'w1')").run();
    const glassesPayment = (glassesId: string) =>
      f!.hub.paymentRequest(f!.wallet, 100, { mode: "glasses", payer: { kind: "glasses", walletId: "w1", glassesId, assertion: new Uint8Array(8) } });

    const paired = await f.decisionFor(f.hub, glassesPayment("g1").bytes);
    const unpaired = await f.decisionFor(f.hub, glassesPayment("g2").bytes);

    expect(paired.status).toBe("approved");
    expect(unpaired.code).toBe(ErrorCode.PayerCredentialInvalid);
    expect(f.service.paymentsOf("m1").map((p) => p.mode)).toEqual(["glasses"]);
  });

  it("a bug in one message crashes the service (nothing of its batch kept); restarted, the retried request is answered exactly once", async () => {
    const buggy: PayerVerifier = {
      kind: "glasses",
      verify() {
        throw new Error("bug in a verifier");
      },
    };
    const crashes: unknown[] = [];
    f = await SettlementFixture.create({ service: { payerVerifiers: [buggy], onCrash: (error) => crashes.push(error) } });
    const good = f.hub.paymentRequest(f.wallet, 100);
    const bad = f.hub.paymentRequest(f.wallet, 100, { mode: "glasses", payer: { kind: "glasses", walletId: "w1", glassesId: "g1", assertion: new Uint8Array(8) } });

    // Neither is answered: in production the process is gone (onCrash rethrows), and no bug becomes a business decline.
    void f.fromHub(f.hub, good.bytes);
    void f.fromHub(f.hub, bad.bytes);
    await until(() => crashes.length === 1);
    expect((crashes[0] as Error).message).toBe("bug in a verifier");
    expect(f.service.paymentsOf("m1")).toEqual([]);
    await expect(f.fromHub(f.hub, good.bytes)).rejects.toMatchObject({ code: ErrorCode.ServiceUnavailable });

    await f.restart();
    const retried = await f.decisionFor(f.hub, good.bytes);
    const again = await f.decisionFor(f.hub, good.bytes);
    expect(retried.status).toBe("approved");
    expect(again).toEqual(retried);
    expect(f.service.paymentsOf("m1")).toHaveLength(1);
    f.service.ledger.checkInvariants();
  });

  it("stops once when stop is called twice", async () => {
    f = await SettlementFixture.create();
    const pending = f.fromHub(f.hub, f.hub.paymentRequest(f.wallet, 100).bytes);

    await Promise.all([f.service.stop(), f.service.stop()]);

    expect(f.open((await pending)[0]!.payload).status).toBe("approved");
  });
});

describe("idempotency retention", () => {
  const sweepRarely = { service: { review: { sweepIntervalMs: 60_000 } } };

  it("prunes records only after idempotencyRetentionMs, when their requests are long expired", async () => {
    f = await SettlementFixture.create(sweepRarely);
    const request = f.hub.paymentRequest(f.wallet, 100);
    await f.fromHub(f.hub, request.bytes);
    f.clock.advance(24 * 3_600_000 - 1);
    expect(f.service.pruneIdempotency()).toEqual({ decisions: 0, nonces: 0 });

    f.clock.advance(2);
    const pruned = f.service.pruneIdempotency();
    const replay = await f.decisionFor(f.hub, request.bytes);

    expect(pruned.decisions).toBe(1);
    expect(replay.code).toBe(ErrorCode.MessageExpired);
    expect(f.service.paymentsOf("m1")).toHaveLength(1);
  });

  it("prunes at most rowsMax records per call, oldest first", async () => {
    f = await SettlementFixture.create(sweepRarely);
    for (let i = 0; i < 3; i++) await f.fromHub(f.hub, f.hub.paymentRequest(f.wallet, 100).bytes);
    f.clock.advance(25 * 3_600_000);

    expect(f.service.pruneIdempotency(2).decisions).toBe(2);
    expect(f.service.pruneIdempotency(2).decisions).toBe(1);
    expect(f.service.pruneIdempotency(2).decisions).toBe(0);
  });

  it("is pruned by the service's own sweep, without an operator", async () => {
    f = await SettlementFixture.create({ service: { review: { sweepIntervalMs: 20 } } });
    await f.fromHub(f.hub, f.hub.paymentRequest(f.wallet, 100).bytes);
    f.clock.advance(25 * 3_600_000);

    const decisionCount = () => (f!.service.database.prepare("SELECT count(*) AS n FROM settlement_decisions").get() as { n: number }).n;
    expect(decisionCount()).toBe(1);
    // The sweep runs on the service's own interval timer (real time until the service takes injected timers).
    await vi.waitFor(() => expect(decisionCount()).toBe(0), { timeout: 2_000, interval: 10 });
  });
});
