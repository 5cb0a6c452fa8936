import { afterEach, beforeEach, expect } from "vitest";
import type { OfflineLimits } from "../../protocol/contract.ts";
import { SettlementFixture, type FixtureOptions } from "../settlement/fixtures.ts";

export const hourMs = 3_600_000;

/** Merchant m1's floor limits in these tests; hubs declare the same unless a test says otherwise. */
export const floor: OfflineLimits = { saleMaxMinor: 2_000, totalMaxMinor: 5_000, countMax: 3, ageMsMax: 4 * hourMs };

/**
 * A fresh settlement fixture per test whose merchant m1 sells offline under `floor`; after each test the
 * ledger must still balance to zero per currency, whatever the test did.
 */
export function offlineFixtureEachTest(use: (f: SettlementFixture) => void, options: FixtureOptions = {}): void {
  let current: SettlementFixture | undefined;
  beforeEach(async () => {
    current = await SettlementFixture.create(options);
    current.service.registry.setOfflineLimits("m1", floor);
    use(current);
  });
  afterEach(async () => {
    const fixture = current;
    current = undefined;
    try {
      expect(Object.values(fixture!.service.ledger.checkInvariants().balanceSumMinorByCurrency).every((sum) => sum === 0)).toBe(true);
    } finally {
      await fixture?.close();
    }
  });
}
