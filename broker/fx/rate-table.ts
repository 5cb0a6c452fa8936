import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { roundingRules, type RoundingRule } from "../../protocol/fx.ts";
import { isCurrency } from "../../protocol/money.ts";
import { StatementCache } from "../ledger/sqlite-db.ts";
import { parseRate } from "./convert.ts";
import type { SqlDb } from "../../core/sql-db.ts";

/** One rate: 1 unit of `base` is `rate` units of `quote`, valid from fromMs (inclusive) to toMs (exclusive). */
export interface FxRate {
  base: string;
  quote: string;
  rate: string;
  rounding: RoundingRule;
  source: string;
  fromMs: number;
  toMs: number;
}

/** A loaded rate, with when it was loaded. */
export interface StoredFxRate extends FxRate {
  rateId: number;
  loadedAtMs: number;
}

/** Most rates one load may bring, and one list may show. */
export const fxRatesPerLoadMax = 10_000;
const sourceLengthMax = 64;

interface RateRow {
  rate_id: number;
  base: string;
  quote: string;
  rate: string;
  rounding: RoundingRule;
  source: string;
  from_ms: number;
  to_ms: number;
  loaded_at_ms: number;
}

const columns = "rate_id, base, quote, rate, rounding, source, from_ms, to_ms, loaded_at_ms";
const toRate = (r: RateRow): StoredFxRate => ({
  rateId: r.rate_id,
  base: r.base,
  quote: r.quote,
  rate: r.rate,
  rounding: r.rounding,
  source: r.source,
  fromMs: r.from_ms,
  toMs: r.to_ms,
  loadedAtMs: r.loaded_at_ms,
});

/** Checks one rate before anything is stored; FxRateInvalid names what is wrong. */
export function checkedRate(rate: FxRate): FxRate {
  const invalid = (why: string) => new TapwireError(`rate ${rate.base}/${rate.quote}: ${why}`, ErrorCode.FxRateInvalid);
  if (!isCurrency(rate.base) || !isCurrency(rate.quote)) throw invalid("unknown currency");
  if (rate.base === rate.quote) throw invalid("base and quote are the same currency");
  parseRate(rate.rate);
  if (!roundingRules.includes(rate.rounding)) throw invalid(`rounding must be one of ${roundingRules.join(", ")}`);
  if (rate.source.length === 0 || rate.source.length > sourceLengthMax) throw invalid(`source must be 1-${sourceLengthMax} characters`);
  if (!Number.isSafeInteger(rate.fromMs) || !Number.isSafeInteger(rate.toMs) || rate.toMs <= rate.fromMs) {
    throw invalid(`window [${rate.fromMs}, ${rate.toMs}) is empty or not integer milliseconds`);
  }
  return rate;
}

/**
 * The rate table: loaded in whole files (all rates or none), never edited. Where windows of one pair overlap, the
 * one that starts latest applies, and of two that start together the one loaded last: a correction is a new load.
 */
export class RateTable {
  private readonly statements: StatementCache;

  constructor(private readonly db: SqlDb) {
    this.statements = new StatementCache(db);
  }

  load(rates: readonly FxRate[], nowMs: number): number {
    if (rates.length === 0 || rates.length > fxRatesPerLoadMax) {
      throw new TapwireError(`a load brings 1-${fxRatesPerLoadMax} rates, got ${rates.length}`, ErrorCode.FxRateInvalid);
    }
    const checked = rates.map(checkedRate);
    const insert = this.statements.sql<[string, string, string, string, string, number, number, number]>(
      "INSERT INTO fx_rates (base, quote, rate, rounding, source, from_ms, to_ms, loaded_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.db.transaction(() => {
      for (const r of checked) insert.run(r.base, r.quote, r.rate, r.rounding, r.source, r.fromMs, r.toMs, nowMs);
    })();
    return checked.length;
  }

  /** The rate of base→quote that applies at atMs; FxRateMissing when none does. */
  rateAt(base: string, quote: string, atMs: number): StoredFxRate {
    const row = this.statements
      .sql<[string, string, number, number], RateRow>(
        `SELECT ${columns} FROM fx_rates WHERE base = ? AND quote = ? AND from_ms <= ? AND to_ms > ?
         ORDER BY from_ms DESC, rate_id DESC LIMIT 1`,
      )
      .get(base, quote, atMs, atMs);
    if (!row) throw new TapwireError(`no ${base}/${quote} rate valid at ${atMs}`, ErrorCode.FxRateMissing, { base, quote, atMs });
    return toRate(row);
  }

  list(limit: number): StoredFxRate[] {
    assert(Number.isSafeInteger(limit) && limit > 0 && limit <= fxRatesPerLoadMax, `limit ${limit}`);
    return this.statements.sql<[number], RateRow>(`SELECT ${columns} FROM fx_rates ORDER BY base, quote, from_ms, rate_id LIMIT ?`).all(limit).map(toRate);
  }
}
