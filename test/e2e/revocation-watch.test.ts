import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SettlementService } from "../../broker/settlement/settlement-service.ts";
import { systemClock } from "../../protocol/sources.ts";
import { TestStack } from "./stack.ts";

describe("revocation made by another process (tapwire hub revoke beside tapwire settle)", () => {
  let stack: TestStack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  async function revokeFromAnotherProcess(hubId: string): Promise<void> {
    const admin = new SettlementService({ databasePath: join(stack!.dataDir, "ledger.sqlite"), serviceKey: stack!.node.pki.serviceSigningKey, clock: systemClock, verifyWorkers: 0 });
    await admin.start();
    admin.registry.revokeHub(hubId);
    await admin.stop();
  }

  async function untilOffline(offline: () => number): Promise<void> {
    const deadlineMs = Date.now() + 3_000;
    while (offline() === 0 && Date.now() < deadlineMs) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  it("drops each revoked hub's connection within about a second and refuses its reconnect", async () => {
    stack = await TestStack.start();
    const { hub } = await stack.enrolDefaults();
    const second = await stack.node.enrollHub({ hubId: "h2", merchantId: "m1" });
    let offline = 0;
    let secondOffline = 0;
    const link = await stack.connect(hub, { onOffline: () => offline++, reconnectAttemptsMax: 2 });
    const secondLink = await stack.connect(second, { onOffline: () => secondOffline++, reconnectAttemptsMax: 2 });

    await revokeFromAnotherProcess("h1");
    await untilOffline(() => offline);
    expect(offline).toBeGreaterThan(0);
    expect(secondLink.connected).toBe(true);

    await revokeFromAnotherProcess("h2");
    await untilOffline(() => secondOffline);
    expect(secondOffline).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(link.connected).toBe(false);
    expect(secondLink.connected).toBe(false);
  });
});
