import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256, publicKeyPem } from "../../protocol/keys.ts";
import { ManualClock } from "../../core/sources.ts";
import { openSqliteDb, type SqliteDb } from "../../broker/ledger/sqlite-db.ts";
import { ledgerSchema } from "../../broker/ledger/ledger-schema.ts";
import { SqliteLedger } from "../../broker/ledger/sqlite-ledger.ts";
import { Registry } from "../../broker/registry/registry.ts";
import { registrySchema } from "../../broker/registry/registry-schema.ts";
import { codeOf } from "../settlement/preamble.ts";
import { floor, hourMs } from "./preamble.ts";

const clock = new ManualClock();
let dir: string;
let db: SqliteDb | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tapwire-registry-offline-"));
});

afterEach(() => {
  db?.close();
  db = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** A registry on a file whose registry tables are migrated up to `registryVersion` (all by default). */
function openRegistry(registryVersion = registrySchema.migrations.length): Registry {
  db?.close();
  const registry = { ...registrySchema, migrations: registrySchema.migrations.slice(0, registryVersion) };
  db = openSqliteDb({ path: join(dir, "settlement.sqlite"), components: [ledgerSchema, registry], clock });
  return new Registry(db, new SqliteLedger(db, clock), clock);
}

function enrollWallet(registry: Registry, walletId = "w1"): void {
  registry.enrollWallet({ walletId, publicKeyPem: publicKeyPem(generateP256().publicKey), currency: "EUR", perPaymentMaxMinor: 5_000 });
}

describe("merchants' offline floor limits", () => {
  it("are absent unless given, and can be set, changed and turned off", () => {
    const registry = openRegistry();
    registry.enrollMerchant({ merchantId: "m1", currency: "EUR" });
    registry.enrollMerchant({ merchantId: "m2", currency: "EUR", offlineLimits: floor });

    const changed = registry.setOfflineLimits("m1", { ...floor, countMax: 10 });
    const off = registry.setOfflineLimits("m2", undefined);

    expect(changed.offlineLimits).toEqual({ ...floor, countMax: 10 });
    expect(registry.getMerchant("m1").offlineLimits).toEqual({ ...floor, countMax: 10 });
    expect(off.offlineLimits).toBeUndefined();
    expect(registry.listMerchants().map((m) => m.offlineLimits)).toEqual([{ ...floor, countMax: 10 }, undefined]);
  });

  it("refuses limits above the contract's ceilings, a sale above the total, zero, and an unknown merchant", () => {
    const registry = openRegistry();
    registry.enrollMerchant({ merchantId: "m1", currency: "EUR" });

    const refused = [
      { ...floor, countMax: contract.offlineCountMax + 1 },
      { ...floor, ageMsMax: contract.offlineAgeMsMax + 1 },
      { ...floor, saleMaxMinor: floor.totalMaxMinor + 1 },
      { ...floor, saleMaxMinor: 0 },
      { ...floor, totalMaxMinor: 1.5 },
    ].map((limits) => codeOf(() => registry.setOfflineLimits("m1", limits)));

    expect(refused).toEqual(Array(5).fill(ErrorCode.ConfigInvalid));
    expect(codeOf(() => registry.enrollMerchant({ merchantId: "m2", currency: "EUR", offlineLimits: { ...floor, countMax: 0 } }))).toBe(ErrorCode.ConfigInvalid);
    expect(registry.findMerchant("m2")).toBeUndefined();
    expect(codeOf(() => registry.setOfflineLimits("m9", floor))).toBe(ErrorCode.UnknownMerchant);
    expect(registry.getMerchant("m1").offlineLimits).toBeUndefined();
    expect(registry.setOfflineLimits("m1", { ...floor, countMax: contract.offlineCountMax, ageMsMax: 72 * hourMs }).offlineLimits?.countMax).toBe(1_000);
  });

  it("are kept all four or none by the schema itself", () => {
    const registry = openRegistry();
    registry.enrollMerchant({ merchantId: "m1", currency: "EUR", offlineLimits: floor });

    const halfOff = (() => {
      try {
        db!.prepare("UPDATE registry_merchants SET offline_count_max = NULL WHERE merchant_id = 'm1'").run();
        return undefined;
      } catch (error) {
        return (error as { code?: string }).code;
      }
    })();

    expect(halfOff).toBe("SQLITE_CONSTRAINT_CHECK");
    expect(registry.getMerchant("m1").offlineLimits).toEqual(floor);
  });
});

describe("consumed HCE counters", () => {
  it("keeps online payments forward-only and lets a late capture use any unused counter, each once", () => {
    const registry = openRegistry();
    enrollWallet(registry);
    registry.consumeWalletAtc("w1", 5, "forward", clock.nowMs());

    const online = [codeOf(() => registry.consumeWalletAtc("w1", 5, "forward", 0)), codeOf(() => registry.consumeWalletAtc("w1", 4, "forward", 0))];
    const late = codeOf(() => registry.consumeWalletAtc("w1", 3, "unused", 0));
    const lateAgain = codeOf(() => registry.consumeWalletAtc("w1", 3, "unused", 0));
    const consumedAsLate = codeOf(() => registry.consumeWalletAtc("w1", 5, "unused", 0));

    expect(online).toEqual([ErrorCode.CounterReplayed, ErrorCode.CounterReplayed]);
    expect(late).toBeUndefined();
    expect([lateAgain, consumedAsLate]).toEqual([ErrorCode.CounterReplayed, ErrorCode.CounterReplayed]);
    expect(registry.getWallet("w1").lastAtc).toBe(5);
  });

  it("moves lastAtc up to a late capture's counter when it is the highest", () => {
    const registry = openRegistry();
    enrollWallet(registry);

    registry.consumeWalletAtc("w1", 9, "unused", 0);

    expect(registry.getWallet("w1").lastAtc).toBe(9);
    expect(codeOf(() => registry.consumeWalletAtc("w1", 8, "forward", 0))).toBe(ErrorCode.CounterReplayed);
  });

  it("treats every counter a wallet used before the migration as consumed", () => {
    openRegistry(2);
    // Written as the code of that time did: today's Registry reads columns later migrations add.
    db!.prepare("INSERT INTO registry_wallets (wallet_id, public_key_pem, currency, per_payment_max_minor, last_atc, enrolled_at_ms) VALUES ('w1', ?, 'EUR', 5000, 7, 0)").run(
      publicKeyPem(generateP256().publicKey),
    );

    const registry = openRegistry();
    const belowOld = [1, 7].map((atc) => codeOf(() => registry.consumeWalletAtc("w1", atc, "unused", 0)));
    const next = codeOf(() => registry.consumeWalletAtc("w1", 8, "forward", 0));

    expect(belowOld).toEqual([ErrorCode.CounterReplayed, ErrorCode.CounterReplayed]);
    expect(next).toBeUndefined();
  });
});
