import { createPublicKey } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { readSealed } from "../../broker/evidence/sealed-form.ts";
import { EvidenceStore } from "../../broker/evidence/evidence-store.ts";
import { dayMs, keyPeriodMs, retentionDays } from "../../broker/privacy/retention.ts";
import { GlassesPayerVerifier, enrollGlasses, glassesSchema } from "../../broker/settlement/glasses-payer-verifier.ts";
import { VirtualClock } from "../../core/sources.ts";
import { openSealed } from "../../protocol/envelope.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { signBiometricAssertion, type BiometricClaim } from "../../protocol/glasses.ts";
import { generateP256, publicKeyPem } from "../../protocol/keys.ts";
import { openMandateSchema } from "../../protocol/mandates.ts";
import { protocolVersion } from "../../protocol/messages.ts";
import { AgentFixture, disputeOpen, mandateRevoke } from "../agents/fixtures.ts";
import { codeOf } from "../support/cli.ts";

let a: AgentFixture;
afterEach(async () => {
  await a.close();
});

/** The agent fixture with glasses g1 bound to w1; `timers` drive the service's sweep when given. */
async function withGlasses(timers?: VirtualClock) {
  a = await AgentFixture.create({ service: { payerVerifiers: [new GlassesPayerVerifier()], schemaComponents: [glassesSchema], ...(timers ? { timers } : {}) } });
  const glasses = generateP256();
  enrollGlasses(a.service.database, a.service.registry, { glassesId: "g1", walletId: "w1", publicKeyPem: publicKeyPem(glasses.publicKey), ownerId: "alice" }, a.f.clock.nowMs());
  let challenges = 0;
  const payByGlasses = (amountMinor: number) => {
    challenges += 1;
    const claim: BiometricClaim = { type: "biometric_assertion", v: protocolVersion, glassesId: "g1", ownerId: "alice", method: "voiceprint", userVerified: true, liveness: true, challenge: new Uint8Array(16).fill(challenges), iat: a.f.clock.nowMs() };
    const assertion = new Uint8Array(signBiometricAssertion(claim, glasses.privateKey, glasses.publicKey));
    const request = a.f.hub.paymentRequest(a.f.wallet, amountMinor, { mode: "glasses", payer: { kind: "glasses", walletId: "w1", glassesId: "g1", assertion }, context: { utterance: "I'll take the blue scarf" } });
    return a.f.decisionFor(a.f.hub, request.bytes);
  };
  return { payByGlasses };
}

const balances = () => a.service.database.prepare("SELECT account_id, balance_minor FROM ledger_accounts ORDER BY account_id").all();

describe("consents", () => {
  it("are recorded at glasses enrolment; withdrawing voiceprint consent removes the enrolment, so the glasses pay no more", async () => {
    const { payByGlasses } = await withGlasses();
    expect((await payByGlasses(300)).status).toBe("approved");
    const [voiceprint] = a.service.consentsOf("w1");
    expect(voiceprint).toMatchObject({ purpose: "glasses_voiceprint", subject: "g1", textVersion: "glasses-voiceprint-v1", givenAtMs: a.f.clock.nowMs() });
    expect(voiceprint!.signature).toBeUndefined();

    const withdrawal = a.service.withdrawConsent(voiceprint!.consentId, "operators/dpo");
    const again = a.service.withdrawConsent(voiceprint!.consentId, "operators/dpo");

    expect(withdrawal).toMatchObject({ withdrawn: true, consent: { withdrawnBy: "operators/dpo" } });
    expect(again.withdrawn).toBe(false);
    expect(a.service.database.prepare("SELECT COUNT(*) FROM glasses_enrolments").pluck().get()).toBe(0);
    expect((await payByGlasses(300)).code).toBe(ErrorCode.PayerCredentialInvalid);
  });

  it("are recorded at mandate registration with the wallet's signature; withdrawing revokes the mandate, and the person's own revoke withdraws it", async () => {
    a = await AgentFixture.create();
    await a.registerMandate();
    await a.registerMandate({ mandateId: "mandate-2" });
    const [first, second] = a.service.consentsOf("w1");

    expect(first).toMatchObject({ purpose: "agent_mandate", subject: "mandate-1", textVersion: "agent-mandate-v1" });
    expect(first!.signature).toHaveLength(64);
    expect(openSealed(first!.signedMessage!, createPublicKey(a.f.wallet.keys.privateKey), openMandateSchema).body.mandateId).toBe("mandate-1");

    a.service.withdrawConsent(first!.consentId, "operators/dpo");
    const refused = await a.fromAgent(a.agent.payment("mandate-1", 500).bytes);
    await a.fromWallet(a.f.wallet, mandateRevoke(a.f.wallet, a.f.clock, "mandate-2"));

    expect(refused.code).toBe(ErrorCode.MandateRevoked);
    expect(a.service.consentsOf("w1").find((c) => c.consentId === second!.consentId)?.withdrawnBy).toBe("person");
    expect(await codeOf(async () => a.service.withdrawConsent(999, "operators/dpo"))).toBe(ErrorCode.ConsentUnknown);
  });
});

describe("retention, applied by the sweep on injected time", () => {
  it("shreds sealed utterances and agent context once their period is past 400 days, clears decided review context, keeps the money", async () => {
    const timers = new VirtualClock();
    const { payByGlasses } = await withGlasses(timers);
    await a.registerMandate();
    expect((await payByGlasses(400)).status).toBe("approved");
    expect((await a.fromAgent(a.agent.payment("mandate-1", 600, { context: { ambiguous: "true", utterance: "get the usual" } }).bytes)).status).toBe("human_review");
    const [held] = a.service.listReviews({ status: "pending" });
    a.service.decideReview(held!.caseId, "approve", "alice");
    const money = balances();
    const sealedRows = () => new EvidenceStore(a.service.database).page(0, 1_000).filter((r) => readSealed(r.bytes) !== undefined);
    const shreddedInExport = () => a.service.exportPerson("w1").evidence.filter((e) => e.sealed && e.shredded).length;
    expect(sealedRows()).toHaveLength(2);

    a.f.clock.advance(retentionDays.evidence_personal * dayMs - dayMs);
    timers.advance(60_000);
    expect(shreddedInExport()).toBe(0);

    a.f.clock.advance(keyPeriodMs + 2 * dayMs);
    timers.advance(60_000);

    expect(shreddedInExport()).toBe(2);
    expect(JSON.stringify(a.service.exportPerson("w1"))).not.toMatch(/blue scarf|get the usual/);
    expect(a.service.listReviews({}).map((c) => c.context)).toEqual([{}]);
    expect(a.service.database.prepare("SELECT COUNT(*) FROM glasses_challenges").pluck().get()).toBe(0);
    expect(a.service.verifyEvidence().ok).toBe(true);
    expect(balances()).toEqual(money);
    expect(a.service.applyRetention()).toEqual({ keysShredded: 0, reviewContextsCleared: 0, glassesChallengesDeleted: 0, withdrawnConsentsDeleted: 0 });
  });

  it("deletes a withdrawn consent five years after its withdrawal, not before", async () => {
    await withGlasses();
    const [consent] = a.service.consentsOf("w1");
    a.service.withdrawConsent(consent!.consentId, "operators/dpo");

    a.f.clock.advance(retentionDays.withdrawn_consents * dayMs - 1);
    const early = a.service.applyRetention();
    a.f.clock.advance(1);
    const due = a.service.applyRetention();

    expect([early.withdrawnConsentsDeleted, due.withdrawnConsentsDeleted]).toEqual([0, 1]);
    expect(a.service.consentsOf("w1")).toEqual([]);
  });
});

describe("sealing", () => {
  it("seals a person's dispute reason under their key; the dispute still opens and the evidence verifies", async () => {
    a = await AgentFixture.create();
    await a.registerMandate();
    const paid = await a.fromAgent(a.agent.payment("mandate-1", 500, { context: undefined }).bytes);

    const opened = await a.fromWallet(a.f.wallet, disputeOpen(a.f.wallet, a.f.clock, paid.receipt!.paymentId));
    const dispute = new EvidenceStore(a.service.database).page(0, 100).find((r) => r.kind === "request" && r.requestId === `dispute-${paid.receipt!.paymentId}`)!;

    expect(opened.status).not.toBe("declined");
    expect(readSealed(dispute.bytes)).toMatchObject({ person: "w1", kind: "evidence_personal" });
    expect(Buffer.from(dispute.bytes).toString("latin1")).not.toContain("never delivered");
    expect(a.service.exportPerson("w1").evidence.find((e) => e.requestId === dispute.requestId && e.kind === "request")?.body).toMatchObject({ reason: "never delivered" });
    expect(a.service.verifyEvidence().ok).toBe(true);
  });
});

describe("evidence written before sealing", () => {
  it("still verifies beside sealed rows, and a person's export lists it, personal fields and all", async () => {
    a = await AgentFixture.create();
    await a.registerMandate();
    const payment = a.agent.payment("mandate-1", 500);
    const decision = (await a.f.send("agent", "a1", payment.bytes)).find((o) => o.kind === "agent")!.payload;
    const nowMs = a.f.clock.nowMs();
    // As the service stored them before sealing existed: the request's bytes as received, then its decision.
    a.service.database.transaction(() => {
      const evidence = new EvidenceStore(a.service.database);
      evidence.append("request", "agents/a1", payment.body.requestId, payment.bytes, nowMs);
      evidence.append("decision", "agents/a1", payment.body.requestId, decision, nowMs);
    })();

    const requests = a.service.exportPerson("w1").evidence.filter((e) => e.kind === "request" && e.principal === "agents/a1");

    expect(a.service.verifyEvidence().ok).toBe(true);
    expect(requests.map((e) => e.sealed)).toEqual([true, false]);
    expect(requests.map((e) => (e.body as { context: { utterance: string } }).context.utterance)).toEqual(["order more oat milk", "order more oat milk"]);
  });
});
