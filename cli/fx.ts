import { parseRateFile } from "../broker/fx/rate-file.ts";
import { fxRatesPerLoadMax } from "../broker/fx/rate-table.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { systemClock } from "../core/sources.ts";
import { dataDirFlag, withAdmin } from "./admin.ts";
import { parseFlags, readFlagFile } from "./args.ts";

export const fxUsage = `tapwire fx load FILE [--data-dir .tapwire]
  Loads exchange rates, all of the file or none: JSON (an array of { base, quote, rate, fromMs, toMs, source,
  rounding? }) or CSV (header base,quote,rate,fromMs,toMs,source[,rounding]). One base unit is rate quote units
  (a decimal as text, never a float); a merchant in base is paid from a wallet in quote at it, from fromMs until
  before toMs (ms since the epoch or ISO 8601). rounding is half_even (default) or half_up. Where windows overlap
  the one starting latest applies; a correction is a new load. Loaded rates are never edited.
  example: tapwire fx load rates.json
tapwire fx list [--data-dir .tapwire]
  One rate a line: pair, rate, rounding, window, source.
  example: tapwire fx list`;

export async function fxLoadCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { ...dataDirFlag });
  const [file] = positionals;
  if (file === undefined || positionals.length !== 1) throw new TapwireError("give the rate file: tapwire fx load FILE", ErrorCode.ConfigInvalid);
  const rates = parseRateFile(file, (await readFlagFile(file, "file")).toString("utf8"));
  const loaded = await withAdmin(values["data-dir"], (service) => service.fxRates.load(rates, systemClock.nowMs()), "create");
  process.stdout.write(`${loaded} rates loaded from ${file}\n`);
  return 0;
}

export async function fxListCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag });
  const rates = await withAdmin(values["data-dir"], (service) => service.fxRates.list(fxRatesPerLoadMax));
  for (const r of rates) {
    process.stdout.write(`${r.base}/${r.quote} ${r.rate} ${r.rounding} [${new Date(r.fromMs).toISOString()}, ${new Date(r.toMs).toISOString()}) ${r.source}\n`);
  }
  if (rates.length === 0) process.stdout.write("no rates loaded\n");
  return 0;
}
