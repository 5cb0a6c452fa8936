import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { efficiency, leastFloor, type Floor } from "../../bench/floor.ts";

function floor(parts: { sign: number; verify: number; mqtt: number; ledger: number }): Floor {
  const usPerPayment = 3 * parts.sign + 3 * parts.verify + parts.mqtt + parts.ledger;
  const cores = availableParallelism();
  return {
    es256SignUs: parts.sign,
    es256VerifyUs: parts.verify,
    mqttRoundTripUs: parts.mqtt,
    ledgerPostUs: parts.ledger,
    usPerPayment,
    cores,
    paymentsPerSecond: (cores * 1_000_000) / usPerPayment,
    rounds: 3,
  };
}

describe("the floor measured before and after the load", () => {
  it("keeps each part's least, so one slow spell does not raise the floor or the efficiency", () => {
    // Before: the slow spell of 2026-12-04 (floor 492 µs); after: a normal one, but for a slower ledger post.
    const before = floor({ sign: 41, verify: 78, mqtt: 124, ledger: 12 });
    const after = floor({ sign: 27, verify: 55, mqtt: 70, ledger: 14 });

    const least = leastFloor(before, after);

    expect(least).toMatchObject({ es256SignUs: 27, es256VerifyUs: 55, mqttRoundTripUs: 70, ledgerPostUs: 12, usPerPayment: 328, rounds: 6 });
    expect(least.paymentsPerSecond).toBeCloseTo((least.cores * 1_000_000) / 328, 6);
    expect(efficiency(2_189, least)).toBeLessThan(efficiency(2_189, before));
    expect(leastFloor(after, before)).toEqual(least);
  });
});
