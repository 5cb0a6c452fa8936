import { describe, expect, it } from "vitest";
import { parseBenchOptions } from "../../bench/options.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { verifyGatherMsMax } from "../../broker/settlement/verify-pool.ts";

function refusal(argv: string[]): { code: ErrorCode; option: unknown } {
  try {
    parseBenchOptions(argv);
  } catch (error) {
    const { code, context } = error as { code: ErrorCode; context?: Record<string, unknown> };
    return { code, option: context?.["option"] };
  }
  throw new Error(`${argv.join(" ")} was accepted`);
}

describe("bench options: where the settlement side runs", () => {
  it("runs today's embedded node on SQLite by default, with the stages and the floor", () => {
    const options = parseBenchOptions([]);

    expect([options.broker, options.store, options.workers, options.stages, options.floor]).toEqual(["embedded", "sqlite", 1, true, true]);
    expect(parseBenchOptions(["--broker", "embedded", "--store", "sqlite"])).toEqual(options);
  });

  it("runs N workers on PostgreSQL behind Mosquitto, without the embedded-only stages and floor", () => {
    const options = parseBenchOptions(["--broker", "mosquitto", "--store", "postgres", "--workers", "3"]);

    expect([options.broker, options.store, options.workers, options.stages, options.floor]).toEqual(["mosquitto", "postgres", 3, false, false]);
    expect(parseBenchOptions(["--broker", "mosquitto"]).store).toBe("postgres");
  });

  it("refuses combinations it cannot run: split SQLite ledgers, several embedded nodes, tuning flags of the embedded node", () => {
    expect(refusal(["--broker", "mosquitto", "--store", "sqlite"])).toEqual({ code: ErrorCode.ConfigInvalid, option: "store" });
    expect(refusal(["--broker", "embedded", "--store", "postgres"])).toEqual({ code: ErrorCode.ConfigInvalid, option: "store" });
    expect(refusal(["--workers", "2"])).toEqual({ code: ErrorCode.ConfigInvalid, option: "workers" });
    expect(refusal(["--broker", "mosquitto", "--workers", "9"])).toEqual({ code: ErrorCode.ConfigInvalid, option: "workers" });
    expect(refusal(["--broker", "mosquitto", "--batch-max", "64"])).toEqual({ code: ErrorCode.ConfigInvalid, option: "batch-max" });
    expect(refusal(["--broker", "mosquitto", "--profile"])).toEqual({ code: ErrorCode.ConfigInvalid, option: "profile" });
    expect(refusal(["--broker", "aedes"])).toEqual({ code: ErrorCode.ConfigInvalid, option: "broker" });
  });
});

describe("bench options: the warm-up", () => {
  it("warms up 3 s by default, takes 0 to measure from a cold start, and refuses a negative or an hour", () => {
    expect(parseBenchOptions([]).warmupSeconds).toBe(3);
    expect(parseBenchOptions(["--warmup", "0"]).warmupSeconds).toBe(0);
    expect(parseBenchOptions(["--warmup", "60"]).warmupSeconds).toBe(60);
    expect(refusal(["--warmup", "61"])).toEqual({ code: ErrorCode.ConfigInvalid, option: "warmup" });
    expect(refusal(["--warmup=-1"])).toEqual({ code: ErrorCode.ConfigInvalid, option: "warmup" });
  });
});

describe("bench options: the verify gather", () => {
  it("keeps the service's own gather unless told, takes 0 (end of the turn) up to the service's bound, and only for the embedded node", () => {
    expect(parseBenchOptions([]).verifyGatherMs).toBeUndefined();
    expect(parseBenchOptions(["--verify-gather-ms", "0"]).verifyGatherMs).toBe(0);
    expect(parseBenchOptions(["--verify-gather-ms", String(verifyGatherMsMax)]).verifyGatherMs).toBe(verifyGatherMsMax);
    expect(refusal(["--verify-gather-ms", String(verifyGatherMsMax + 1)])).toEqual({ code: ErrorCode.ConfigInvalid, option: "verify-gather-ms" });
    expect(refusal(["--broker", "mosquitto", "--verify-gather-ms", "0"])).toEqual({ code: ErrorCode.ConfigInvalid, option: "verify-gather-ms" });
  });
});

describe("bench options: whose wallets pay", () => {
  it("pays each lane from wallets of its own unless told one wallet per hub, and always per lane for scale-out workers", () => {
    expect(parseBenchOptions([]).walletPerLane).toBe(true);
    expect(parseBenchOptions(["--wallet-per-hub"]).walletPerLane).toBe(false);
    expect(parseBenchOptions(["--broker", "mosquitto"]).walletPerLane).toBe(true);
    expect(refusal(["--broker", "mosquitto", "--wallet-per-hub"])).toEqual({ code: ErrorCode.ConfigInvalid, option: "wallet-per-hub" });
  });
});
