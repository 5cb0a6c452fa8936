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

  it("drops the revoked hub's connection within about a second and refuses its reconnect", async () => {
    stack = await TestStack.start();
    const { hub } = await stack.enrolDefaults();
    let offline = 0;
    const link = await stack.connect(hub, { onOffline: () => offline++, reconnectAttemptsMax: 2 });
    expect(link.connected).toBe(true);

    const admin = new SettlementService({ databasePath: join(stack.dataDir, "ledger.sqlite"), serviceKey: stack.node.pki.serviceSigningKey, clock: systemClock, verifyWorkers: 0 });
    await admin.start();
    admin.registry.revokeHub("h1");
    await admin.stop();

    const deadlineMs = Date.now() + 3_000;
    while (offline === 0 && Date.now() < deadlineMs) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(offline).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(link.connected).toBe(false);
  });
});
