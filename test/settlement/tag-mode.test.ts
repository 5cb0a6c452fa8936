import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { sealMessage } from "../../protocol/envelope.ts";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import type { SettlementFixture } from "./fixtures.ts";
import { freshFixtureEachTest } from "./preamble.ts";

let f: SettlementFixture;
freshFixtureEachTest((created) => (f = created));

describe("tag mode (wallet reads the hub's signed offer)", () => {
  it("approves a wallet payment and sends the same decision to the hub and the wallet", async () => {
    const offer = f.hub.tagOffer(800, "EUR");

    const outbound = await f.send("wallet", "w1", f.wallet.tagPayment(offer.bytes).bytes);

    expect(outbound.map((o) => `${o.kind}/${o.id}`)).toEqual(["hub/h1", "wallet/w1"]);
    expect(outbound[0]!.payload.equals(outbound[1]!.payload)).toBe(true);
    const decision = f.open(outbound[0]!.payload);
    expect(decision).toMatchObject({ status: "approved", requestId: offer.body.offerId, hubId: "h1", requestType: "wallet_tag_payment" });
    expect(decision.receipt?.amountMinor).toBe(800);
    expect(f.service.findPayment("h1", offer.body.offerId)).toMatchObject({ mode: "tag", walletId: "w1", amountMinor: 800 });
    expect(f.service.ledger.balanceOf(merchantAccountId("m1"))).toBe(800);
    f.service.ledger.checkInvariants();
  });

  it("answers a byte-identical resend with the stored decision and refuses any other use of the nonce", async () => {
    const offer = f.hub.tagOffer(800, "EUR");
    const message = f.wallet.tagPayment(offer.bytes);
    const first = await f.send("wallet", "w1", message.bytes);
    const thief = f.enrollWallet("w-thief", 5_000);
    f.clock.advance(1_000);

    const resent = await f.send("wallet", "w1", message.bytes);
    const resigned = await f.send("wallet", "w1", f.wallet.tagPayment(offer.bytes).bytes);
    const stolen = await f.send("wallet", "w-thief", thief.tagPayment(offer.bytes).bytes);

    expect(resent.map((o) => o.payload.equals(first[0]!.payload))).toEqual([true, true]);
    for (const refused of [resigned, stolen]) {
      expect(refused).toHaveLength(1);
      expect(refused[0]!.kind).toBe("wallet");
      expect(f.open(refused[0]!.payload).code).toBe(ErrorCode.NonceReplayed);
    }
    expect(f.service.ledger.balanceOf(walletAccountId("w-thief"))).toBe(5_000);
    expect(f.service.paymentsOf("m1")).toHaveLength(1);
  });

  it("refuses an offer signed by a key other than the hub's, telling only the wallet", async () => {
    const offer = f.hub.tagOffer(800, "EUR");
    const forgedOffer = sealMessage(offer.body, generateP256().privateKey);

    const outbound = await f.send("wallet", "w1", f.wallet.tagPayment(forgedOffer).bytes);

    expect(outbound).toHaveLength(1);
    expect(outbound[0]).toMatchObject({ kind: "wallet", id: "w1" });
    expect(f.open(outbound[0]!.payload)).toMatchObject({ code: ErrorCode.BadSignature, hubId: "h1" });
    // The nonce was not consumed by the forgery: the genuine offer still pays.
    expect(f.open((await f.send("wallet", "w1", f.wallet.tagPayment(offer.bytes).bytes))[0]!.payload).status).toBe("approved");
  });

  it("refuses an expired offer, a revoked hub's offer, a wallet message for another wallet and an unknown wallet", async () => {
    const expired = f.hub.tagOffer(100, "EUR");
    f.clock.advance(60_000);
    const fresh = f.hub.tagOffer(100, "EUR");
    const other = f.enrollWallet("w2", 1_000);

    const codes = [];
    codes.push(f.open((await f.send("wallet", "w1", f.wallet.tagPayment(expired.bytes).bytes))[0]!.payload).code);
    codes.push(f.open((await f.send("wallet", "w1", other.tagPayment(fresh.bytes).bytes))[0]!.payload).code);
    codes.push(f.open((await f.send("wallet", "w-none", f.wallet.tagPayment(fresh.bytes).bytes))[0]!.payload).code);
    f.service.registry.revokeHub("h1");
    codes.push(f.open((await f.send("wallet", "w1", f.wallet.tagPayment(fresh.bytes).bytes))[0]!.payload).code);

    expect(codes).toEqual([ErrorCode.MessageExpired, ErrorCode.BadSignature, ErrorCode.UnknownWallet, ErrorCode.Revoked]);
    expect(f.service.paymentsOf("m1")).toHaveLength(0);
  });

  it("refuses a wallet message naming another wallet than its topic", async () => {
    const offer = f.hub.tagOffer(100, "EUR");

    const outbound = await f.send("wallet", "w1", f.wallet.tagPayment(offer.bytes, { walletId: "w2" }).bytes);

    expect(f.open(outbound[0]!.payload).code).toBe(ErrorCode.WalletMismatch);
  });

  it("declines (and stores) an offer above the wallet's limit, consuming its nonce", async () => {
    const offer = f.hub.tagOffer(6_000, "EUR");
    const message = f.wallet.tagPayment(offer.bytes);

    const first = await f.send("wallet", "w1", message.bytes);
    const retry = await f.send("wallet", "w1", message.bytes);

    expect(first).toHaveLength(2);
    expect(f.open(first[0]!.payload).code).toBe(ErrorCode.LimitExceeded);
    expect(retry[0]!.payload.equals(first[0]!.payload)).toBe(true);
  });

  it("declines a tag payment the hub reversed before the wallet paid", async () => {
    const offer = f.hub.tagOffer(300, "EUR");
    const reversal = await f.decisionFor(f.hub, f.hub.reversal(offer.body.offerId, { reason: "cancelled" }).bytes);

    const outbound = await f.send("wallet", "w1", f.wallet.tagPayment(offer.bytes).bytes);

    expect(reversal.status).toBe("approved");
    expect(f.open(outbound[0]!.payload)).toMatchObject({ status: "declined", code: ErrorCode.Cancelled });
    expect(f.service.ledger.balanceOf(walletAccountId("w1"))).toBe(10_000);
  });

  it("does not let a wallet message be sent from an agent topic", async () => {
    const offer = f.hub.tagOffer(100, "EUR");

    const outbound = await f.send("agent", "a1", f.wallet.tagPayment(offer.bytes).bytes);

    expect(outbound).toEqual([expect.objectContaining({ kind: "agent", id: "a1" })]);
    expect(f.open(outbound[0]!.payload).code).toBe(ErrorCode.UnsupportedRequest);
  });
});
