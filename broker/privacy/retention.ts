/**
 * How long each kind of record is kept, in one place (README "Privacy" shows this table). The sweep
 * (broker/settlement/sweep.ts) applies it through PersonalData.applyRetention:
 *
 * | kind                 | days  | what happens when it runs out                                                  |
 * | -------------------- | ----- | ------------------------------------------------------------------------------ |
 * | `evidence_personal`  | 400   | the data keys of that period are destroyed: utterances, agent context and carts sealed in evidence become unreadable (the chain still verifies) |
 * | `review_context`     | 400   | a decided review case's context (what the person or agent said) is cleared     |
 * | `glasses_challenges` | 1     | consumed biometric challenges are deleted (an assertion is refused after 10 min anyway) |
 * | `withdrawn_consents` | 1825  | a withdrawn consent record is deleted (kept 5 years as proof of what was agreed) |
 * | `money_records`      | 3650  | ledger transfers, payments, decisions: kept; the sweep never removes them (balances and the evidence check rest on them) |
 *
 * 400 days covers the longest card-scheme dispute window (about 13 months) a sale's context may be needed for.
 * Sealed evidence is keyed per person per `keyPeriodMs`, so a period's key goes once its last day has expired:
 * personal fields live between 400 and 430 days.
 */
export const retentionDays = {
  evidence_personal: 400,
  review_context: 400,
  glasses_challenges: 1,
  withdrawn_consents: 1825,
  money_records: 3650,
} as const;

export type RetentionKind = keyof typeof retentionDays;

export const dayMs = 86_400_000;

/**
 * How often the sweep applies the table: retention is counted in days, so an hour late is nothing, and the
 * queries (some scan a table) do not run at the sweep's own pace of seconds.
 */
export const retentionEveryMs = 3_600_000;

/** One data key per person per this period: the grain at which retention shreds sealed personal fields. */
export const keyPeriodMs = 30 * dayMs;

export function retentionMs(kind: RetentionKind): number {
  return retentionDays[kind] * dayMs;
}

/** The start of the key period `nowMs` falls in. */
export function keyPeriodStartMs(nowMs: number): number {
  return Math.floor(nowMs / keyPeriodMs) * keyPeriodMs;
}
