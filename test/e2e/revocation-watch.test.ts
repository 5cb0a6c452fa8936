import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SettlementService } from "../../broker/settlement/settlement-service.ts";
import { ErrorCode, type TapwireError } from "../../protocol/errors.ts";
import { systemClock } from "../../core/sources.ts";
import { TestStack } from "./stack.ts";

/**
 * RevocationWatch polls the database on a real interval (revocationPollMs, 1 s) until it takes injected timers; the
 * test waits on what the hubs see: their connection dropped, then their reconnect refused by the broker.
 */
const revocationSeenMsMax = 5_000;

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

  /** What one hub's link reports: times it went offline, and the codes of the refusals it met. */
  function watched() {
    const seen = { offline: 0, refusals: [] as number[] };
    const options = { onOffline: () => seen.offline++, onRefused: (refusal: TapwireError) => seen.refusals.push(refusal.code), reconnectAttemptsMax: 2 };
    return { seen, options };
  }

  async function droppedAndRefused(seen: { offline: number; refusals: number[] }): Promise<void> {
    await vi.waitFor(
      () => {
        expect(seen.offline).toBeGreaterThan(0);
        expect(seen.refusals).toContain(ErrorCode.ConnectRefused);
      },
      { timeout: revocationSeenMsMax, interval: 20 },
    );
  }

  it("drops each revoked hub's connection and refuses its reconnect; the other hub stays connected", async () => {
    stack = await TestStack.start();
    const { hub } = await stack.enrolDefaults();
    const second = await stack.node.enrollHub({ hubId: "h2", merchantId: "m1" });
    const first = watched();
    const other = watched();
    const link = await stack.connect(hub, first.options);
    const secondLink = await stack.connect(second, other.options);

    await revokeFromAnotherProcess("h1");
    await droppedAndRefused(first.seen);
    expect(link.connected).toBe(false);
    expect(secondLink.connected).toBe(true);
    expect(other.seen).toEqual({ offline: 0, refusals: [] });

    await revokeFromAnotherProcess("h2");
    await droppedAndRefused(other.seen);
    expect(link.connected).toBe(false);
    expect(secondLink.connected).toBe(false);
  });
});
