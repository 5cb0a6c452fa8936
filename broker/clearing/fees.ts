import { ErrorCode, TapwireError } from "../../protocol/errors.ts";

/**
 * What the operator charges a merchant for each approved payment: basis points of its amount plus a fixed part,
 * both in the merchant's currency. Rounding: the basis-point part is rounded half-up to the currency's minor
 * unit (its ISO 4217 exponent: EUR cents, JPY yen, BHD fils), once per payment; then the fixed part is added. A
 * payment's fee is never more than its amount. Refunds and reversals do not give fees back.
 */
export interface FeeSchedule {
  bps: number;
  fixedMinor: number;
}

/** 100 %: a fee schedule of more basis points is refused. */
export const feeBpsMax = 10_000;
/** The largest fixed part per payment (10 000.00 in a two-decimal currency). */
export const feeFixedMinorMax = 1_000_000;

export function parseFeeSchedule(input: { bps: number; fixedMinor: number }): FeeSchedule {
  const { bps, fixedMinor } = input;
  if (!Number.isSafeInteger(bps) || bps < 0 || bps > feeBpsMax) {
    throw new TapwireError(`fee basis points must be an integer 0-${feeBpsMax}, got ${String(bps)}`, ErrorCode.FeeScheduleInvalid);
  }
  if (!Number.isSafeInteger(fixedMinor) || fixedMinor < 0 || fixedMinor > feeFixedMinorMax) {
    throw new TapwireError(`fixed fee must be an integer 0-${feeFixedMinorMax} minor units, got ${String(fixedMinor)}`, ErrorCode.FeeScheduleInvalid);
  }
  return { bps, fixedMinor };
}

/** The fee of one approved payment of amountMinor (see FeeSchedule for the rounding). */
export function feeOf(schedule: FeeSchedule, amountMinor: number): number {
  // amount (≤ 10^12) × bps (≤ 10^4) can pass 2^53: the product is exact in BigInt.
  const scaled = BigInt(amountMinor) * BigInt(schedule.bps);
  const proportional = Number((scaled + 5_000n) / 10_000n);
  return Math.min(amountMinor, proportional + schedule.fixedMinor);
}
