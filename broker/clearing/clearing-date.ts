import { ErrorCode, TapwireError } from "../../protocol/errors.ts";

const dayMs = 86_400_000;

/** A UTC calendar day: [startMs, endMs). */
export interface UtcDay {
  date: string;
  startMs: number;
  endMs: number;
}

/** `YYYY-MM-DD` as a UTC day; ClearingDateInvalid for anything else (including 2026-02-30). */
export function utcDay(date: string): UtcDay {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const startMs = match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : Number.NaN;
  if (Number.isNaN(startMs) || new Date(startMs).toISOString().slice(0, 10) !== date) {
    throw new TapwireError(`clearing date ${JSON.stringify(date)} is not a calendar day in YYYY-MM-DD form`, ErrorCode.ClearingDateInvalid);
  }
  return { date, startMs, endMs: startMs + dayMs };
}
