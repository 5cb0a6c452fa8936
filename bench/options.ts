import { parseArgs } from "node:util";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { gatherMsDefault, verifyGatherMsMax } from "../broker/settlement/verify-pool.ts";

/** What one `npm run bench` run does; every count and duration has a bound (house rule 5). */
export interface BenchOptions {
  /**
   * Where the settlement side runs. "embedded": one SettlementNode in the bench process (aedes broker, SQLite).
   * "mosquitto": `workers` real `tapwire settle` processes in one MQTT 5 shared group on one fresh PostgreSQL
   * database, behind a private Mosquitto with tapwire's generated config (bench/scale-out-under-load.ts).
   */
  broker: "embedded" | "mosquitto";
  store: "sqlite" | "postgres";
  workers: number;
  hubs: number;
  /** Payments each hub keeps waiting for a decision. */
  inflight: number;
  /** The run ends at this many payments sent or after `seconds`, whichever comes first. */
  payments: number;
  seconds: number;
  /**
   * The same load first for this long, left out of every figure (its own counts and p99 are reported apart): a fresh
   * node runs cold for its first seconds. 0 measures from the cold start.
   */
  warmupSeconds: number;
  /** Where the JSON report goes; default bench/results/<timestamp>.json. */
  jsonPath: string | undefined;
  /** Isolated per-stage measurements (crypto, SQLite, MQTT without crypto) before the end-to-end run. */
  stages: boolean;
  /** Sample both processes with the V8 CPU profiler during the end-to-end run and summarise self time. */
  profile: boolean;
  /** SettlementService batchMax (group commit size); undefined keeps the service default. */
  batchMax: number | undefined;
  /** SettlementService verifyWorkers (signature-check threads; 0 = on the main thread); undefined keeps the default. */
  verifyWorkers: number | undefined;
  /** SettlementService verifyGatherMs (how long a check waits for company; 0 = end of the turn); undefined keeps the default. */
  verifyGatherMs: number | undefined;
  /** SettlementNode handlerCallsInFlightMax (requests the service works on at once); undefined keeps the default. */
  handlerCalls: number | undefined;
  /**
   * Open loop: payments sent at this fixed rate (per second, over all hubs), latency counted from each payment's
   * intended send time (no coordinated omission, as wrk2). Undefined: closed loop, `inflight` per hub.
   */
  ratePerSecond: number | undefined;
  /** The floor (unavoidable CPU per payment on this machine) measured before and after the load, for the efficiency line. */
  floor: boolean;
  /** A previous run's JSON report to print the change of each figure against. */
  comparePath: string | undefined;
  /**
   * Each of a hub's `inflight` lanes pays from wallets of its own, as customers do (the default), or (--wallet-per-hub,
   * the embedded run's workload before 2026-12-04) one wallet per hub with `inflight` of its payments at once. Always
   * per lane with --broker mosquitto (generator-protocol.ts, walletPerLane).
   */
  walletPerLane: boolean;
}

export const benchDefaults = {
  hubs: 32,
  inflight: 16,
  payments: 60_000,
  seconds: 20,
  warmupSeconds: 3,
  workers: 1,
} as const;

const usage = `usage: npm run bench -- [--hubs N] [--inflight W] [--payments P] [--seconds S] [--warmup S] [--json PATH]
                     [--no-stages] [--no-floor] [--profile] [--batch-max N] [--verify-workers N] [--verify-gather-ms N]
                     [--handler-calls N] [--wallet-per-hub]
                     [--rate R] [--compare FILE] [--broker embedded|mosquitto --store sqlite|postgres --workers N]
  --hubs           simulated hubs, each its own mTLS connection and wallet (1..500, default ${benchDefaults.hubs})
  --inflight       payments each hub keeps in flight (1..256, default ${benchDefaults.inflight})
  --payments       stop after this many payments (1..2000000, default ${benchDefaults.payments})
  --seconds        or after this many seconds of load, whichever first (1..600, default ${benchDefaults.seconds})
  --warmup         the same load first for this many seconds (and ≤ --payments), not counted in any figure; its
                   own counts and p99 are shown apart (0..60, default ${benchDefaults.warmupSeconds}; 0: measure from cold)
  --json           report path (default bench/results/<timestamp>.json)
  --no-stages      skip the isolated stage measurements
  --profile        V8 CPU profile of both processes during the load, summarised by function and by area
  --batch-max      settlement group-commit size (1..10000; default: the service's own)
  --verify-workers signature-check worker threads (0..64, 0 = main thread; default: the service's own)
  --verify-gather-ms how long a check that comes within that long of the last waits for company on its way to a
                   worker (0..${verifyGatherMsMax}, 0 = each turn's checks at its end; default: the service's own, ${gatherMsDefault})
  --handler-calls  requests the service works on at once (1..4096; default: the node's own)
  --wallet-per-hub each hub pays all its payments in flight from one wallet, as the embedded run did before
                   2026-12-04 (default: each of its --inflight lanes from wallets of its own, as customers do; always
                   so with --broker mosquitto)
  --rate           open loop: R payments/s in all (1..100000), latency from each intended send time (no coordinated
                   omission); --inflight then only bounds each hub's wire, not the rate
  --no-floor       skip measuring the floor (the unavoidable CPU per payment) and the efficiency line
  --compare        a previous run's JSON: print each headline figure's change against it
  --broker         embedded (default): one settlement node in this process, aedes + SQLite (--store sqlite);
                   mosquitto: --workers tapwire settle processes (1..8, default 1) on a fresh PostgreSQL database
                   (--store postgres) behind a private Mosquitto, hubs on MQTT 5; no stages, floor or profile then,
                   and the service's tuning flags do not apply (the workers run as \`tapwire settle\` does)
  (--store without --broker benches the shared store alone: npm run bench -- --store sqlite|postgres --help)`;

function integerIn(name: string, raw: string | undefined, fallback: number, min: number, max: number, unit: string): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new TapwireError(`--${name} must be an integer between ${min} and ${max} ${unit}, got ${raw}\n${usage}`, ErrorCode.ConfigInvalid, {
      option: name,
    });
  }
  return value;
}

function optionalIntegerIn(name: string, raw: string | undefined, min: number, max: number, unit: string): number | undefined {
  return raw === undefined ? undefined : integerIn(name, raw, min, min, max, unit);
}

const workersMax = 8;

/** The first choice is the default; with --broker mosquitto the only store is PostgreSQL, embedded only SQLite. */
function oneOf<T extends string>(name: string, raw: string | undefined, choices: readonly [T, ...T[]]): T {
  if (raw === undefined) return choices[0];
  const found = choices.find((choice) => choice === raw);
  if (found === undefined) {
    throw new TapwireError(`--${name} must be ${choices.join(" or ")} here, got ${raw}\n${usage}`, ErrorCode.ConfigInvalid, { option: name });
  }
  return found;
}

/**
 * Flags that tune or profile the node in this process (the workers are `tapwire settle` processes instead), and the
 * one-wallet-per-hub workload, which several workers would refuse as replays.
 */
function refuseEmbeddedOnly(values: Record<string, string | boolean | undefined>): void {
  for (const name of ["profile", "batch-max", "verify-workers", "verify-gather-ms", "handler-calls", "wallet-per-hub"]) {
    if (values[name] !== undefined) {
      throw new TapwireError(`--${name} applies to the embedded node only, not with --broker mosquitto\n${usage}`, ErrorCode.ConfigInvalid, { option: name });
    }
  }
}

export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        hubs: { type: "string" },
        inflight: { type: "string" },
        payments: { type: "string" },
        seconds: { type: "string" },
        warmup: { type: "string" },
        json: { type: "string" },
        "no-stages": { type: "boolean" },
        profile: { type: "boolean" },
        "batch-max": { type: "string" },
        "verify-workers": { type: "string" },
        "verify-gather-ms": { type: "string" },
        "handler-calls": { type: "string" },
        "wallet-per-hub": { type: "boolean" },
        rate: { type: "string" },
        "no-floor": { type: "boolean" },
        compare: { type: "string" },
        broker: { type: "string" },
        store: { type: "string" },
        workers: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new TapwireError(`${(error as Error).message}\n${usage}`, ErrorCode.ConfigInvalid);
  }
  const values = parsed.values;
  if (values.help) throw new TapwireError(usage, ErrorCode.ConfigInvalid, { help: true });
  const broker = oneOf("broker", values.broker, ["embedded", "mosquitto"] as const);
  const store = oneOf("store", values.store, broker === "mosquitto" ? (["postgres"] as const) : (["sqlite"] as const));
  const workers = integerIn("workers", values.workers, benchDefaults.workers, 1, broker === "mosquitto" ? workersMax : 1, "workers");
  if (broker === "mosquitto") refuseEmbeddedOnly(values);
  return {
    broker,
    store,
    workers,
    hubs: integerIn("hubs", values.hubs, benchDefaults.hubs, 1, 500, "hubs"),
    inflight: integerIn("inflight", values.inflight, benchDefaults.inflight, 1, 256, "payments"),
    payments: integerIn("payments", values.payments, benchDefaults.payments, 1, 2_000_000, "payments"),
    seconds: integerIn("seconds", values.seconds, benchDefaults.seconds, 1, 600, "seconds"),
    warmupSeconds: integerIn("warmup", values.warmup, benchDefaults.warmupSeconds, 0, 60, "seconds"),
    jsonPath: values.json,
    // The stages and the floor time the embedded broker and SQLite: beside workers on PostgreSQL they would mislead.
    stages: broker === "embedded" && !values["no-stages"],
    profile: values.profile ?? false,
    batchMax: optionalIntegerIn("batch-max", values["batch-max"], 1, 10_000, "messages"),
    verifyWorkers: optionalIntegerIn("verify-workers", values["verify-workers"], 0, 64, "threads"),
    verifyGatherMs: optionalIntegerIn("verify-gather-ms", values["verify-gather-ms"], 0, verifyGatherMsMax, "milliseconds"),
    handlerCalls: optionalIntegerIn("handler-calls", values["handler-calls"], 1, 4_096, "requests"),
    ratePerSecond: optionalIntegerIn("rate", values.rate, 1, 100_000, "payments per second"),
    floor: broker === "embedded" && !values["no-floor"],
    comparePath: values.compare,
    walletPerLane: broker === "mosquitto" || !values["wallet-per-hub"],
  };
}
