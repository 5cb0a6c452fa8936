import { afterEach, beforeEach, expect } from "vitest";
import { isTapwireError } from "../../protocol/errors.ts";
import { SettlementFixture, type FixtureOptions } from "./fixtures.ts";

/** The code of the TapwireError `action` throws, or undefined when it returns; anything else is rethrown. */
export function codeOf(action: () => unknown): number | undefined {
  try {
    action();
  } catch (error) {
    if (isTapwireError(error)) return error.code;
    throw error;
  }
  return undefined;
}

/** Pays from the fixture's wallet at its hub, checks the payment is approved and returns its requestId. */
export async function approvedPayment(f: SettlementFixture, amountMinor: number): Promise<string> {
  const request = f.hub.paymentRequest(f.wallet, amountMinor);
  expect((await f.decisionFor(f.hub, request.bytes)).status).toBe("approved");
  return request.body.requestId;
}

/** Gives every test of the calling file a fresh fixture through `use`, and closes it after the test. */
export function freshFixtureEachTest(use: (f: SettlementFixture) => void, options: FixtureOptions = {}): void {
  let current: SettlementFixture | undefined;
  beforeEach(async () => {
    current = await SettlementFixture.create(options);
    use(current);
  });
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
}
