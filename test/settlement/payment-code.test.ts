import { afterEach, describe, expect, it } from "vitest";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import type { CodeCredential } from "../../protocol/messages.ts";
import { issuePaymentCode, readPaymentCode } from "../../protocol/payment-code.ts";
import { SettlementFixture, type TestWallet } from "./fixtures.ts";

let f: SettlementFixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

/** The code the wallet's phone shows now, as the hub's scanner reads it. */
function shownCode(fixture: SettlementFixture, wallet: TestWallet, options: { lifetimeMs?: number; privateKey?: ReturnType<typeof generateP256>["privateKey"] } = {}): CodeCredential {
  const { text } = issuePaymentCode({
    walletId: wallet.walletId,
    privateKey: options.privateKey ?? wallet.keys.privateKey,
    nowMs: fixture.clock.nowMs(),
    random: fixture.random,
    ...(options.lifetimeMs !== undefined ? { lifetimeMs: options.lifetimeMs } : {}),
  });
  const { code, walletId } = readPaymentCode(text);
  return { kind: "code", walletId, code };
}

describe("paying with a wallet's scanned payment code", () => {
  it("approves and charges the wallet the code names", async () => {
    f = await SettlementFixture.create({ fundMinor: 10_000 });
    const decision = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 450, { payer: shownCode(f, f.wallet) }).bytes);

    expect(decision).toMatchObject({ status: "approved", code: 0 });
    expect(f.service.ledger.balanceOf("wallet:w1")).toBe(10_000 - 450);
  });

  it("refuses the same code a second time, even in another payment request (replayed)", async () => {
    f = await SettlementFixture.create();
    const payer = shownCode(f, f.wallet);
    await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100, { payer }).bytes);

    const again = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100, { payer }).bytes);

    expect(again).toMatchObject({ status: "declined", code: ErrorCode.NonceReplayed });
    expect(f.service.ledger.balanceOf("wallet:w1")).toBe(10_000 - 100);
  });

  it("answers the same request again with the stored decision, charging once (duplicated)", async () => {
    f = await SettlementFixture.create();
    const request = f.hub.paymentRequest(f.wallet, 100, { payer: shownCode(f, f.wallet) });
    const first = await f.decisionFor(f.hub, request.bytes);

    const second = await f.decisionFor(f.hub, request.bytes);

    expect(second).toEqual(first);
    expect(f.service.paymentsOf("m1")).toHaveLength(1);
  });

  it("refuses an expired code, one issued in the future, and one that lives longer than the contract allows", async () => {
    f = await SettlementFixture.create();
    const expired = shownCode(f, f.wallet);
    f.clock.advance(contract.paymentCodeLifetimeMsMax + 1);
    expect(await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100, { payer: expired }).bytes)).toMatchObject({ code: ErrorCode.MessageExpired });

    f.clock.advance(contract.clockSkewMs + 1_000);
    const future = shownCode(f, f.wallet);
    f.clock.advance(-(contract.clockSkewMs + 1_000));
    expect(await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100, { payer: future }).bytes)).toMatchObject({ code: ErrorCode.MessageNotYetValid });

    const longLived = shownCode(f, f.wallet, { lifetimeMs: contract.paymentCodeLifetimeMsMax * 10 });
    expect(await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100, { payer: longLived }).bytes)).toMatchObject({ code: ErrorCode.PayerCredentialInvalid });
    expect(f.service.ledger.balanceOf("wallet:w1")).toBe(10_000);
  });

  it("refuses a forged code (another key), one naming another wallet, and malformed bytes", async () => {
    f = await SettlementFixture.create();
    const other = f.enrollWallet("w2", 1_000);
    const forged = shownCode(f, f.wallet, { privateKey: generateP256().privateKey });
    const swapped: CodeCredential = { ...shownCode(f, other), walletId: "w1" };
    const garbled: CodeCredential = { ...shownCode(f, f.wallet), code: new Uint8Array([0xd2, 0x84, 0x40]) };

    for (const payer of [forged, swapped, garbled]) {
      const decision = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100, { payer }).bytes);
      expect(decision).toMatchObject({ status: "declined", code: ErrorCode.PayerCredentialInvalid });
    }
    expect(f.service.ledger.balanceOf("wallet:w1")).toBe(10_000);
    expect(f.service.ledger.balanceOf("wallet:w2")).toBe(1_000);
  });

  it("a code whose payment was refused for funds is spent all the same; a restart keeps it spent (interrupted)", async () => {
    f = await SettlementFixture.create({ fundMinor: 50 });
    const payer = shownCode(f, f.wallet);
    expect(await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100, { payer }).bytes)).toMatchObject({ code: ErrorCode.InsufficientFunds });
    await f.restart();

    const again = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 40, { payer }).bytes);

    expect(again).toMatchObject({ code: ErrorCode.NonceReplayed });
    expect(f.service.ledger.balanceOf("wallet:w1")).toBe(50);
  });
});
