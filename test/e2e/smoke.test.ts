import { afterEach, describe, expect, it } from "vitest";
import { createPrivateKey } from "node:crypto";
import { sealMessage } from "../../protocol/envelope.ts";
import { signCryptogram } from "../../protocol/payer.ts";
import type { PaymentRequest } from "../../protocol/messages.ts";
import { TestStack } from "./stack.ts";

describe("a payment through the embedded broker", () => {
  let stack: TestStack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it("is approved, posted once, and the ledger balances", async () => {
    stack = await TestStack.start();
    const { hub, wallet } = await stack.enrolDefaults();
    const link = await stack.connect(hub);
    const now = Date.now();
    const un = Buffer.from([1, 2, 3, 4]);
    const cryptogram = signCryptogram(
      { walletId: "w1", hubId: "h1", amountMinor: 1250, currency: "EUR", unpredictableNumber: un, atc: 1 },
      createPrivateKey(wallet.keyPem!),
    );
    const body: PaymentRequest = {
      type: "payment_request", v: 1, hubId: "h1", merchantId: "m1", requestId: "r-1", seq: 1, iat: now, exp: now + 60_000,
      amountMinor: 1250, currency: "EUR", mode: "reader",
      payer: { kind: "hce", walletId: "w1", atc: 1, unpredictableNumber: un, cryptogram: Buffer.from(cryptogram) },
    };
    const reply = await link.request(sealMessage(body, createPrivateKey(hub.keyPem!)), "r-1", 5_000);
    expect(reply.decision.status).toBe("approved");
    expect(stack.node.service.ledger.balanceOf("merchant:m1")).toBe(1250);
    expect(stack.node.service.ledger.balanceOf("wallet:w1")).toBe(100_000 - 1250);
    stack.node.service.ledger.checkInvariants();
  });
});
