import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { signBiometricAssertion, type BiometricClaim } from "../../protocol/glasses.ts";
import { generateP256, publicKeyPem, type KeyPair } from "../../protocol/keys.ts";
import { protocolVersion } from "../../protocol/messages.ts";
import { GlassesPayerVerifier, enrollGlasses, glassesSchema } from "../../broker/settlement/glasses-payer-verifier.ts";
import { SettlementFixture } from "../settlement/fixtures.ts";

let f: SettlementFixture;
let glasses: KeyPair;
let challengeCount = 0;

beforeEach(async () => {
  f = await SettlementFixture.create({ service: { payerVerifiers: [new GlassesPayerVerifier({ assertionAgeMsMax: 60_000 })], schemaComponents: [glassesSchema] } });
  glasses = generateP256();
  enrollGlasses(f.service.database, f.service.registry, { glassesId: "g1", walletId: "w1", publicKeyPem: publicKeyPem(glasses.publicKey), ownerId: "alice" }, f.clock.nowMs());
});
afterEach(async () => {
  await f.close();
});

function assertion(overrides: Partial<BiometricClaim> = {}, key: KeyPair = glasses): Uint8Array<ArrayBuffer> {
  challengeCount += 1;
  const claim: BiometricClaim = {
    type: "biometric_assertion", v: protocolVersion, glassesId: "g1", ownerId: "alice", method: "iris", userVerified: true, liveness: true,
    challenge: new Uint8Array(16).fill(challengeCount), iat: f.clock.nowMs(), ...overrides,
  };
  return new Uint8Array(signBiometricAssertion(claim, key.privateKey, key.publicKey));
}

async function pay(proof: Uint8Array<ArrayBuffer>, glassesId = "g1", walletId = "w1") {
  return f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 500, { mode: "glasses", payer: { kind: "glasses", walletId, glassesId, assertion: proof } }).bytes);
}

describe("the glasses payer verifier", () => {
  it("approves a fresh, live, verified assertion from glasses bound to the wallet, once", async () => {
    const proof = assertion();

    const first = await pay(proof);
    const again = await pay(proof);

    expect(first.status).toBe("approved");
    expect(again.code).toBe(ErrorCode.NonceReplayed);
    expect(f.service.paymentsOf("m1")).toHaveLength(1);
  });

  it("refuses glasses bound to another wallet, unknown glasses, and an assertion signed by another key", async () => {
    f.enrollWallet("w2", 1_000);

    const otherWallet = await pay(assertion(), "g1", "w2");
    const unknown = await pay(assertion({ glassesId: "g9" }), "g9");
    const forged = await pay(assertion({}, generateP256()));

    expect([otherWallet.code, unknown.code, forged.code]).toEqual(Array(3).fill(ErrorCode.PayerCredentialInvalid));
  });

  it("refuses a stale assertion, another owner, and a wearer not verified or not live", async () => {
    const stale = await pay(assertion({ iat: f.clock.nowMs() - 60_001 }));
    const stranger = await pay(assertion({ ownerId: "mallory" }));
    const unverified = await pay(assertion({ userVerified: false }));
    const notLive = await pay(assertion({ liveness: false }));

    expect(stale.code).toBe(ErrorCode.MessageExpired);
    expect(stranger.code).toBe(ErrorCode.OwnerMismatch);
    expect([unverified.code, notLive.code]).toEqual([ErrorCode.BiometricFailed, ErrorCode.BiometricFailed]);
    expect(f.service.paymentsOf("m1")).toEqual([]);
  });

  it("refuses enrolling the same glasses twice and an out-of-range assertion age", () => {
    let code = 0;
    try {
      enrollGlasses(f.service.database, f.service.registry, { glassesId: "g1", walletId: "w1", publicKeyPem: publicKeyPem(glasses.publicKey) }, f.clock.nowMs());
    } catch (error) {
      code = (error as TapwireError).code;
    }

    expect(code).toBe(ErrorCode.GlassesAlreadyEnrolled);
    expect(() => new GlassesPayerVerifier({ assertionAgeMsMax: 10 })).toThrow(TapwireError);
  });
});
