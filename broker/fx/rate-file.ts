import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { RoundingRule } from "../../protocol/fx.ts";
import { fxRatesPerLoadMax, type FxRate } from "./rate-table.ts";

/**
 * A rate file as `tapwire fx load` reads it: JSON (an array of rates, or `{ "rates": [...] }`) or CSV with the
 * header `base,quote,rate,fromMs,toMs,source[,rounding]`. Rates stay text (`"162.53"`, never a JSON number, which
 * a reader would take as a float); times are milliseconds since the epoch or ISO 8601; rounding defaults to
 * half_even. Every field is checked again by the rate table (checkedRate) before anything is stored.
 */
export const rateFileBytesMax = 4 * 1024 * 1024;
const csvColumns = ["base", "quote", "rate", "fromMs", "toMs", "source"] as const;

function invalid(where: string, why: string): TapwireError {
  return new TapwireError(`${where}: ${why}`, ErrorCode.FxRateInvalid);
}

function timeOf(value: unknown, where: string): number {
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  if (typeof value === "string" && /^\d{1,16}$/.test(value)) return Number(value);
  if (typeof value === "string") {
    const parsedMs = Date.parse(value);
    if (!Number.isNaN(parsedMs)) return parsedMs;
  }
  throw invalid(where, `time ${JSON.stringify(value)} is neither milliseconds nor ISO 8601`);
}

function rateOf(row: Record<string, unknown>, where: string): FxRate {
  const text = (name: string): string => {
    const value = row[name];
    if (typeof value !== "string") throw invalid(where, `${name} must be text (a rate as "162.53", not a number)`);
    return value.trim();
  };
  const rounding = row["rounding"] === undefined || row["rounding"] === "" ? "half_even" : text("rounding");
  return {
    base: text("base"),
    quote: text("quote"),
    rate: text("rate"),
    rounding: rounding as RoundingRule,
    source: text("source"),
    fromMs: timeOf(row["fromMs"], where),
    toMs: timeOf(row["toMs"], where),
  };
}

function rowsOfJson(content: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch (error) {
    throw invalid("rate file", `not JSON: ${(error as Error).message}`);
  }
  const rows = Array.isArray(parsed) ? parsed : (parsed as { rates?: unknown } | null)?.rates;
  if (!Array.isArray(rows)) throw invalid("rate file", "JSON must be an array of rates or { \"rates\": [...] }");
  return rows;
}

function rowsOfCsv(content: string): Record<string, string>[] {
  const lines = content.split(/\r?\n/).filter((line) => line.trim() !== "");
  const header = (lines[0] ?? "").split(",").map((cell) => cell.trim());
  for (const column of csvColumns) if (!header.includes(column)) throw invalid("rate file", `CSV header lacks ${column} (${csvColumns.join(",")}[,rounding])`);
  return lines.slice(1).map((line, index) => {
    const cells = line.split(",");
    if (cells.length !== header.length) throw invalid(`line ${index + 2}`, `${cells.length} cells, header has ${header.length}`);
    return Object.fromEntries(header.map((name, i) => [name, cells[i]!.trim()]));
  });
}

/** The rates of a file's content; `name` (its path) says whether it is CSV, else it is JSON. */
export function parseRateFile(name: string, content: string): FxRate[] {
  if (content.length > rateFileBytesMax) throw invalid("rate file", `larger than ${rateFileBytesMax} bytes`);
  const rows = name.toLowerCase().endsWith(".csv") ? rowsOfCsv(content) : rowsOfJson(content);
  if (rows.length === 0 || rows.length > fxRatesPerLoadMax) throw invalid("rate file", `holds ${rows.length} rates, 1-${fxRatesPerLoadMax} allowed`);
  return rows.map((row, index) => {
    if (typeof row !== "object" || row === null) throw invalid(`rate ${index + 1}`, "not an object");
    return rateOf(row as Record<string, unknown>, `rate ${index + 1}`);
  });
}
