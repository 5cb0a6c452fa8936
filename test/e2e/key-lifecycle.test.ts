import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { afterEach, describe, expect, it } from "vitest";
import { operatorCrl } from "../../broker/crl.ts";
import { systemClock } from "../../core/sources.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { payReader } from "../console/fixtures.ts";
import { TestStack } from "./stack.ts";

describe("key and certificate lifecycle: a hub's key rotated, wallets and agents revoked", () => {
  let stack: TestStack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it("after a rotation the hub pays with its new key; the old key's requests are declined and its certificate refused at connect", async () => {
    stack = await TestStack.start();
    const { hub: old, wallet } = await stack.enrolDefaults();
    const oldLink = await stack.connect(old);
    expect((await payReader(oldLink, old, wallet, { requestId: "r-1", seq: 1, atc: 1, amountMinor: 100 })).decision.status).toBe("approved");
    const oldSerial = stack.node.registry.getHub("h1").certificateSerial;

    const rotated = await stack.node.rotateHub({ hubId: "h1" });
    const signedWithOldKey = await payReader(oldLink, old, wallet, { requestId: "r-2", seq: 2, atc: 2, amountMinor: 100 });
    const replayed = await payReader(oldLink, old, wallet, { requestId: "r-1", seq: 1, atc: 1, amountMinor: 100 });
    const reconnectWithOld = stack.connect(old, { reconnectAttemptsMax: 1 });
    const refusal = await stack.refusals.next(ErrorCode.Revoked);
    await expect(reconnectWithOld).rejects.toBeDefined();
    const newLink = await stack.connect(rotated);
    const withNewKey = await payReader(newLink, rotated, wallet, { requestId: "r-3", seq: 3, atc: 3, amountMinor: 100 });

    expect(rotated.certPem).not.toBe(old.certPem);
    expect(stack.node.registry.getHub("h1").certificateSerial).not.toBe(oldSerial);
    expect(stack.node.service.revokedCertificates.list()).toEqual([expect.objectContaining({ principal: "hubs/h1", reason: "rotated" })]);
    expect(signedWithOldKey.decision).toMatchObject({ status: "declined", code: ErrorCode.BadSignature });
    expect(replayed.decision.status).not.toBe("approved");
    expect(refusal.context).toMatchObject({ principal: "hubs/h1" });
    expect(withNewKey.decision.status).toBe("approved");
    expect(stack.node.service.paymentsOf("m1").map((p) => p.requestId)).toEqual(expect.arrayContaining(["r-1", "r-3"]));
    expect(stack.node.service.paymentsOf("m1")).toHaveLength(2);
  });

  it("refuses to rotate an unknown or revoked hub", async () => {
    stack = await TestStack.start();
    await stack.enrolDefaults();
    stack.node.registry.revokeHub("h1");

    await expect(stack.node.rotateHub({ hubId: "h1" })).rejects.toMatchObject({ code: ErrorCode.Revoked });
    await expect(stack.node.rotateHub({ hubId: "h9" })).rejects.toMatchObject({ code: ErrorCode.UnknownHub });
  });

  it("a revoked wallet pays no more and its own connection is refused", async () => {
    stack = await TestStack.start();
    const { hub, wallet } = await stack.enrolDefaults();
    const link = await stack.connect(hub);

    stack.node.registry.revokeWallet("w1");
    const declined = await payReader(link, hub, wallet, { requestId: "r-1", seq: 1, atc: 1, amountMinor: 100 });
    const walletLink = stack.connect(wallet, { reconnectAttemptsMax: 1 });
    const refusal = await stack.refusals.next(ErrorCode.Revoked);

    expect(declined.decision).toMatchObject({ status: "declined", code: ErrorCode.Revoked });
    expect(stack.node.service.paymentsOf("m1")).toEqual([]);
    expect(refusal.context).toMatchObject({ principal: "wallets/w1" });
    await expect(walletLink).rejects.toBeDefined();
    expect(stack.node.registry.getWallet("w1").status).toBe("revoked");
  });

  it("a revoked agent is refused at connect", async () => {
    stack = await TestStack.start();
    const agent = await stack.node.enrollAgent({ agentId: "a1" });

    stack.node.registry.revokeAgent("a1");
    const agentLink = stack.connect(agent, { reconnectAttemptsMax: 1 });
    const refusal = await stack.refusals.next(ErrorCode.Revoked);

    expect(refusal.context).toMatchObject({ principal: "agents/a1" });
    await expect(agentLink).rejects.toBeDefined();
  });

  it("writes a CRL, signed by the operator CA, naming the rotated-out and the revoked certificates", async () => {
    stack = await TestStack.start();
    await stack.enrolDefaults();
    await stack.node.enrollAgent({ agentId: "a1" });
    const rotatedOut = stack.node.registry.getHub("h1").certificateSerial;
    await stack.node.rotateHub({ hubId: "h1" });
    stack.node.registry.revokeAgent("a1");
    const agentSerial = stack.node.registry.getAgent("a1").certificateSerial;

    const { pem, serials } = await operatorCrl(stack.node.service, stack.node.pki, systemClock);
    const crl = new x509.X509Crl(pem);
    const ca = new x509.X509Certificate(stack.node.pki.ca.certPem);

    expect(serials).toBe(2);
    await expect(crl.verify({ publicKey: await ca.publicKey.export(webcrypto as unknown as Crypto) }, webcrypto as unknown as Crypto)).resolves.toBe(true);
    expect(crl.entries.map((entry) => entry.serialNumber.toLowerCase().replace(/^0+/, "")).sort()).toEqual([rotatedOut, agentSerial].map((s) => s.toLowerCase().replace(/^0+/, "")).sort());
  });
});
