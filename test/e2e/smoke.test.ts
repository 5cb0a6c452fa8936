import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SimulatedTapHub } from "../../simulator/scenarios/tap/simulated-tap-hub.ts";
import { TestStack, startAndTap } from "./stack.ts";

const waitMs = 10_000;

describe("a tap through the embedded broker, on the real hub runtime", () => {
  let stack: TestStack | undefined;
  let hub: SimulatedTapHub | undefined;
  afterEach(async () => {
    await hub?.stop();
    await stack?.stop();
    hub = undefined;
    stack = undefined;
  });

  it("is approved, posted once, and the ledger balances", async () => {
    stack = await TestStack.start();
    const bundles = await stack.enrolDefaults();
    hub = new SimulatedTapHub({ brokerUrl: stack.node.url, hub: bundles.hub, wallet: bundles.wallet, merchantId: "m1", journalFile: join(stack.dataDir, "hub", "journal.sqlite") });
    const final = await startAndTap(hub, 1_250, "EUR", waitMs);

    expect(final.tap).toMatchObject({ state: "approved", lastDecisionCode: 0 });
    expect(stack.node.service.paymentsOf("m1")).toMatchObject([{ hubId: "h1", walletId: "w1", amountMinor: 1_250, status: "captured" }]);
    expect(stack.node.service.ledger.balanceOf("merchant:m1")).toBe(1_250);
    expect(stack.node.service.ledger.balanceOf("wallet:w1")).toBe(100_000 - 1_250);
    stack.node.service.ledger.checkInvariants();
  });
});
