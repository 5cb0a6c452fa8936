import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import { systemClock, systemRandom } from "../../core/sources.ts";
import { renewHubCertificate } from "../../firmware-bridge/adapters/cert-renewal-client.ts";
import type { HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { signRenewalProof } from "../../protocol/cert-renewal.ts";
import { sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { protocolVersion } from "../../protocol/messages.ts";
import { payReader } from "../console/fixtures.ts";
import { TestStack } from "./stack.ts";

describe("a hub renews its certificate over its own mTLS link", () => {
  let stack: TestStack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  async function started(): Promise<{ hub: EnrolmentBundle; wallet: EnrolmentBundle; link: HubLink }> {
    stack = await TestStack.start();
    const { hub, wallet } = await stack.enrolDefaults();
    return { hub, wallet, link: await stack.connect(hub) };
  }

  function renew(link: HubLink, hub: EnrolmentBundle) {
    return renewHubCertificate({ link, hubId: "h1", currentKey: createPrivateKey(hub.keyPem!), clock: systemClock, random: systemRandom });
  }

  /** A renewal request as a hub builds it, with parts a test may spoil. */
  function renewalBytes(signWith: EnrolmentBundle["keyPem"], spoil: Record<string, unknown> = {}, proofKey = generateP256()): { bytes: Buffer; requestId: string; newKeyPem: string } {
    const next = generateP256();
    const publicKeyDer = next.publicKey.export({ type: "spki", format: "der" });
    const requestId = `renew-${Math.random().toString(16).slice(2, 10)}`;
    const proofFrom = spoil["foreignProof"] ? proofKey : next;
    const body: Record<string, unknown> = {
      type: "cert_renewal", v: protocolVersion, hubId: "h1", requestId, iat: Date.now(), exp: Date.now() + 60_000, publicKey: publicKeyDer,
      proof: signRenewalProof("h1", requestId, { privateKey: proofFrom.privateKey, publicKeyDer }),
    };
    delete spoil["foreignProof"];
    return { bytes: sealMessage({ ...body, ...spoil }, createPrivateKey(signWith!)), requestId, newKeyPem: pemOf(next.privateKey) };
  }

  it("gets a certificate for a new key; the old one works until the hub connects with the new one, then it is revoked", async () => {
    const { hub, wallet, link } = await started();
    const s = stack!;

    const renewed = await renew(link, hub);
    const beforeSwitch = await payReader(link, hub, wallet, { requestId: "r-1", seq: 1, atc: 1, amountMinor: 100 });
    const oldSerial = s.node.registry.getHub("h1").certificateSerial;
    await link.stop();
    const newBundle = { ...hub, certPem: renewed.certPem, keyPem: renewed.keyPem };
    const newLink = await s.connect(newBundle);
    const afterSwitch = await payReader(newLink, newBundle, wallet, { requestId: "r-2", seq: 2, atc: 2, amountMinor: 100 });
    const oldAgain = s.connect(hub, { reconnectAttemptsMax: 1 });
    const refusal = await s.refusals.next(ErrorCode.Revoked);

    expect(beforeSwitch.decision.status).toBe("approved");
    expect(afterSwitch.decision.status).toBe("approved");
    expect(s.node.registry.getHub("h1").certificateSerial).not.toBe(oldSerial);
    expect(s.node.service.revokedCertificates.isRevoked(oldSerial)).toBe(true);
    expect(refusal.context).toMatchObject({ principal: "hubs/h1" });
    await expect(oldAgain).rejects.toBeDefined();
  });

  it("an interrupted renewal (the hub never uses the new certificate) changes nothing; renewing twice switches once", async () => {
    const { hub, wallet, link } = await started();
    const s = stack!;
    const oldSerial = s.node.registry.getHub("h1").certificateSerial;

    const first = await renew(link, hub);
    const second = await renew(link, hub);
    const stillOld = await payReader(link, hub, wallet, { requestId: "r-1", seq: 1, atc: 1, amountMinor: 100 });
    expect(stillOld.decision.status).toBe("approved");
    expect(s.node.registry.getHub("h1").certificateSerial).toBe(oldSerial);
    expect(s.node.service.revokedCertificates.list()).toEqual([]);

    await link.stop();
    const superseded = s.connect({ ...hub, certPem: first.certPem, keyPem: first.keyPem }, { reconnectAttemptsMax: 1 });
    await expect(superseded).rejects.toBeDefined();
    await s.connect({ ...hub, certPem: second.certPem, keyPem: second.keyPem });
    expect(s.node.service.revokedCertificates.list()).toEqual([expect.objectContaining({ principal: "hubs/h1", reason: "rotated" })]);
  });

  it("declines a forged, malformed, foreign-proof, expired or replayed renewal with its code, and issues nothing", async () => {
    const { hub, link } = await started();
    const s = stack!;
    const stranger = generateP256();
    const ask = async ({ bytes, requestId }: { bytes: Buffer; requestId: string }) => (await link.request(bytes, requestId, 5_000)).decision;

    const forged = await ask(renewalBytes(pemOf(stranger.privateKey)));
    const malformed = await ask(renewalBytes(hub.keyPem, { publicKey: Buffer.from("not a key") }));
    const foreignProof = await ask(renewalBytes(hub.keyPem, { foreignProof: true }));
    const expired = await ask(renewalBytes(hub.keyPem, { iat: Date.now() - 120_000, exp: Date.now() - 60_000 }));
    const otherHub = await ask(renewalBytes(hub.keyPem, { hubId: "h2" }));

    expect(forged).toMatchObject({ status: "declined", code: ErrorCode.BadSignature });
    expect(malformed).toMatchObject({ status: "declined", code: ErrorCode.BadSignature });
    expect(foreignProof).toMatchObject({ status: "declined", code: ErrorCode.BadSignature });
    expect(expired).toMatchObject({ status: "declined", code: ErrorCode.MessageExpired });
    expect(otherHub).toMatchObject({ status: "declined", code: ErrorCode.HubMismatch });
    for (const answer of [forged, malformed, foreignProof, expired, otherHub]) expect(answer.certificate).toBeUndefined();

    const first = renewalBytes(hub.keyPem);
    const approved = await ask(first);
    await link.stop();
    expect(new X509Certificate(approved.certificate!).subject).toContain("hubs/h1");
    const switched = await s.connect({ ...hub, certPem: approved.certificate!, keyPem: first.newKeyPem });
    const replayed = (await switched.request(first.bytes, first.requestId, 5_000)).decision;
    expect(replayed).toMatchObject({ status: "declined", code: ErrorCode.BadSignature });
  });
});

function pemOf(key: KeyObject): string {
  return key.export({ type: "pkcs8", format: "pem" }).toString();
}
