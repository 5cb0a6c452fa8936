import { afterEach, describe, expect, it } from "vitest";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { ManualClock } from "../../core/sources.ts";
import { SettlementService } from "../../broker/settlement/settlement-service.ts";
import type { SettlementOptions } from "../../broker/settlement/options.ts";
import { approvedPayment } from "../settlement/preamble.ts";
import { SettlementFixture } from "../settlement/fixtures.ts";

let f: SettlementFixture | undefined;

afterEach(async () => {
  await f?.close();
  f = undefined;
});

function configCode(options: Partial<SettlementOptions>): number | undefined {
  try {
    new SettlementService({ databasePath: ":memory:", serviceKey: generateP256().privateKey, clock: new ManualClock(), ...options });
  } catch (error) {
    if (isTapwireError(error)) return error.code;
    throw error;
  }
  return undefined;
}

const fifteenMinutesMs = 15 * 60_000;

describe("the service's options against the protocol contract", () => {
  it("refuses a request lifetime or clock skew below the contract's", () => {
    expect(configCode({ requestLifetimeMsMax: contract.requestLifetimeMsMax - 1 })).toBe(ErrorCode.ConfigInvalid);
    expect(configCode({ clockSkewMs: 0 })).toBe(ErrorCode.ConfigInvalid);
    expect(configCode({ requestLifetimeMsMax: fifteenMinutesMs, clockSkewMs: contract.clockSkewMs })).toBeUndefined();
  });

  it("by default refuses a 15-minute reversal, which the contract does not allow a hub to sign", async () => {
    f = await SettlementFixture.create();
    const paymentId = await approvedPayment(f, 100);

    const reversal = await f.decisionFor(f.hub, f.hub.reversal(paymentId, { exp: f.clock.nowMs() + fifteenMinutesMs }).bytes);

    expect(reversal.code).toBe(ErrorCode.MessageLifetimeTooLong);
  });

  it("accepts it once raised to 15 minutes: more lenient than the contract is allowed", async () => {
    f = await SettlementFixture.create({ service: { requestLifetimeMsMax: fifteenMinutesMs } });
    const paymentId = await approvedPayment(f, 100);

    const reversal = await f.decisionFor(f.hub, f.hub.reversal(paymentId, { exp: f.clock.nowMs() + fifteenMinutesMs }).bytes);

    expect(reversal.status).toBe("approved");
    f.service.ledger.checkInvariants();
  });
});
