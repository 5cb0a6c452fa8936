import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256, publicKeyPem } from "../../protocol/keys.ts";
import { fundingAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import type { SettlementFixture } from "./fixtures.ts";
import { codeOf, freshFixtureEachTest } from "./preamble.ts";

let f: SettlementFixture;
freshFixtureEachTest((created) => (f = created), { fundMinor: 2_500 });

const pem = () => publicKeyPem(generateP256().publicKey);

describe("registry", () => {
  it("enrolls hubs, lists and finds them", () => {
    const registry = f.service.registry;
    registry.enrollHub({ hubId: "h2", merchantId: "m1", publicKeyPem: pem(), certificateSerial: "0a1b" });

    expect(registry.listHubs().map((h) => h.hubId)).toEqual(["h1", "h2"]);
    expect(registry.getHub("h2")).toMatchObject({ merchantId: "m1", status: "active", lastSeq: 0, certificateSerial: "0a1b" });
  });

  it("refuses duplicates, unknown ids, unknown merchants and keys that are not P-256", () => {
    const registry = f.service.registry;

    expect(codeOf(() => registry.enrollHub({ hubId: "h1", merchantId: "m1", publicKeyPem: pem(), certificateSerial: "1" }))).toBe(ErrorCode.HubAlreadyEnrolled);
    expect(codeOf(() => registry.enrollHub({ hubId: "h9", merchantId: "m9", publicKeyPem: pem(), certificateSerial: "1" }))).toBe(ErrorCode.UnknownMerchant);
    expect(codeOf(() => registry.enrollHub({ hubId: "h9", merchantId: "m1", publicKeyPem: "not a key", certificateSerial: "1" }))).toBe(ErrorCode.InvalidKey);
    expect(codeOf(() => registry.enrollHub({ hubId: "h/9", merchantId: "m1", publicKeyPem: pem(), certificateSerial: "1" }))).toBe(ErrorCode.SchemaInvalid);
    expect(codeOf(() => registry.getHub("h9"))).toBe(ErrorCode.UnknownHub);
    expect(codeOf(() => registry.revokeHub("h9"))).toBe(ErrorCode.UnknownHub);
    expect(codeOf(() => registry.getWallet("w9"))).toBe(ErrorCode.UnknownWallet);
    expect(codeOf(() => registry.fundWallet("w9", 10))).toBe(ErrorCode.UnknownWallet);
    expect(codeOf(() => registry.enrollWallet({ walletId: "w1", publicKeyPem: pem(), currency: "EUR", perPaymentMaxMinor: 1 }))).toBe(
      ErrorCode.WalletAlreadyEnrolled,
    );
    expect(codeOf(() => registry.enrollMerchant({ merchantId: "m1", currency: "EUR" }))).toBe(ErrorCode.MerchantAlreadyEnrolled);
  });

  it("funds a wallet from the currency's funding account", () => {
    f.service.registry.fundWallet("w1", 500);

    expect(f.service.ledger.balanceOf(walletAccountId("w1"))).toBe(3_000);
    expect(f.service.ledger.balanceOf(fundingAccountId("EUR"))).toBe(-3_000);
    expect(codeOf(() => f.service.registry.fundWallet("w1", 0))).toBe(ErrorCode.InvalidMoney);
    f.service.ledger.checkInvariants();
  });

  it("tells each onRevoked listener once, and no longer after it unsubscribes", () => {
    const seen: string[] = [];
    const unsubscribe = f.service.registry.onRevoked((hub) => seen.push(`${hub.hubId}:${hub.status}`));
    f.service.registry.onRevoked(() => {
      throw new Error("a broken listener must not stop the others");
    });
    f.enrollHub("h2", "m1");

    f.service.registry.revokeHub("h1");
    f.service.registry.revokeHub("h1");
    unsubscribe();
    f.service.registry.revokeHub("h2");

    expect(seen).toEqual(["h1:revoked"]);
    expect(f.service.registry.getHub("h2").status).toBe("revoked");
  });

  it("keeps the hub's seq across a restart", async () => {
    await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 10).bytes);

    await f.restart();

    expect(f.service.registry.getHub("h1").lastSeq).toBe(1);
    expect(f.service.registry.getWallet("w1").lastAtc).toBe(1);
  });
});
