/**
 * `npm run bench`: N simulated hubs (a forked process) against a settlement node (this process: embedded aedes
 * broker over mTLS + settlement service on SQLite), all on loopback. Prints a table and writes JSON.
 * See `npm run bench -- --help` for the flags.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ErrorCode, isTapwireError } from "../protocol/errors.ts";
import { parseBenchOptions, type BenchOptions } from "./options.ts";
import { headline, loadAverage1m, machineInfo, renderReport, type BenchReport } from "./report.ts";
import { runUnderLoad } from "./settlement-under-load.ts";
import { runScaleOutUnderLoad } from "./scale-out-under-load.ts";
import { burstCommand } from "./burst.ts";
import { measureHubJournal } from "./hub-journal.ts";
import { measureHubSale } from "./hub-sale.ts";
import { measureStages } from "./stages.ts";
import { leastFloor, measureFloor } from "./floor.ts";
import { readReport, renderComparison } from "./compare.ts";

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), "results");

function defaultJsonPath(startedAt: string): string {
  return join(resultsDir, `${startedAt.replace(/[:.]/g, "-")}.json`);
}

async function bench(options: BenchOptions): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const loadBefore = loadAverage1m();
  const stages = options.stages ? await measureStages() : [];
  const hubJournal = options.stages ? measureHubJournal() : undefined;
  const hubSale = options.stages ? await measureHubSale() : undefined;
  const floorBefore = options.floor ? await measureFloor() : undefined;
  const load = options.broker === "mosquitto" ? await runScaleOutUnderLoad(options) : await runUnderLoad(options);
  const floor = floorBefore && leastFloor(floorBefore, await measureFloor());
  return {
    startedAt,
    machine: machineInfo(loadBefore),
    options,
    headline: headline(load, floor),
    load,
    stages,
    ...(hubJournal ? { hubJournal } : {}),
    ...(hubSale ? { hubSale } : {}),
    ...(floor ? { floor } : {}),
  };
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (error) {
    if (isTapwireError(error) && error.code === ErrorCode.ConfigInvalid) {
      console.error(error.message);
      return error.context?.["help"] ? 0 : 2;
    }
    throw error;
  }
  const previous = options.comparePath === undefined ? undefined : readReport(options.comparePath);
  const report = await bench(options);
  console.log(renderReport(report));
  if (previous) console.log(`\n${renderComparison(previous, report, options.comparePath!)}`);
  const jsonPath = options.jsonPath ?? defaultJsonPath(report.startedAt);
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nJSON: ${jsonPath}`);
  return report.load.ledger.consistent && report.load.scraped.equal ? 0 : 1;
}

const given = (argv: readonly string[], flag: string) => argv.some((arg) => arg === flag || arg.startsWith(`${flag}=`));

/**
 * `--store` alone benches the shared store by itself (bench/shared-store.ts); with `--broker` it picks the whole
 * service's store (`--broker mosquitto --store postgres --workers N`: bench/scale-out-under-load.ts).
 */
async function command(argv: string[]): Promise<number> {
  if (argv.includes("--burst")) return burstCommand(argv);
  if (given(argv, "--store") && !given(argv, "--broker")) return (await import("./shared-store.ts")).storeBenchCommand(argv);
  return main();
}

process.exitCode = await command(process.argv.slice(2));
