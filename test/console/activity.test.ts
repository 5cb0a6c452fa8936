import { describe, expect, it } from "vitest";
import { generateP256 } from "../../protocol/keys.ts";
import { sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { protocolVersion, type Decision } from "../../protocol/messages.ts";
import { activityFromEvidence, type EvidenceEntry } from "../../console/activity.ts";

const key = generateP256().privateKey;
const nowMs = Date.UTC(2026, 0, 1);

function decision(requestId: string, fields: Partial<Decision> = {}): Uint8Array {
  const body: Decision = {
    type: "decision", v: protocolVersion, requestId, requestType: "payment_request", requestHash: new Uint8Array(32), principalKind: "hub", hubId: "h1",
    status: "approved", code: 0, reason: "approved", iat: nowMs, exp: nowMs + 60_000, ...fields,
  };
  return sealMessage(body, key);
}

function row(seq: number, kind: string, principal: string, requestId: string, bytes: Uint8Array): EvidenceEntry {
  return { seq, kind, principal, requestId, bytes, recordedAtMs: nowMs + seq };
}

describe("recent decisions from evidence rows", () => {
  it("takes amount and mode from the request beside a decline, which carries no receipt", () => {
    const request = sealMessage({ type: "payment_request", requestId: "r-1", amountMinor: 9_000, currency: "EUR", mode: "reader" }, key);
    const declined = decision("r-1", { status: "declined", code: ErrorCode.InsufficientFunds, reason: "no money" });

    const [entry] = activityFromEvidence([row(2, "decision", "hubs/h1", "r-1", declined), row(1, "request", "hubs/h1", "r-1", request)], 10);

    expect(entry).toMatchObject({ requestId: "r-1", mode: "reader", amountMinor: 9_000, amount: "90.00 EUR", status: "declined", code: 302, codeName: "InsufficientFunds" });
  });

  it("reads a tag-mode wallet payment's amount from the hub's signed offer inside it", () => {
    const offer = sealMessage({ type: "tag_offer", offerId: "o-1", amountMinor: 320, currency: "EUR" }, key);
    const request = sealMessage({ type: "wallet_tag_payment", walletId: "alice", offer }, key);

    const [entry] = activityFromEvidence(
      [row(2, "decision", "wallets/alice", "o-1", decision("o-1", { requestType: "wallet_tag_payment" })), row(1, "request", "wallets/alice", "o-1", request)],
      10,
    );

    expect(entry).toMatchObject({ principal: "wallets/alice", mode: "tag", amount: "3.20 EUR" });
  });

  it("falls back to the receipt when the request is outside the rows read, in yen without decimals", () => {
    const receipt = { paymentId: "p-1", merchantId: "m1", amountMinor: 500, currency: "JPY", payerMasked: "w…1", postedAtMs: nowMs };

    const [entry] = activityFromEvidence([row(9, "decision", "hubs/h1", "r-9", decision("r-9", { receipt }))], 10);

    expect(entry).toMatchObject({ mode: undefined, amount: "500 JPY" });
  });

  it("leaves out rows that do not decode, and stops at the maximum, newest first", () => {
    const rows = [row(5, "decision", "hubs/h1", "bad", new Uint8Array([1, 2, 3]))];
    for (let seq = 4; seq >= 1; seq--) rows.push(row(seq, "decision", "hubs/h1", `r-${seq}`, decision(`r-${seq}`)));

    const entries = activityFromEvidence(rows, 3);

    expect(entries.map((entry) => entry.requestId)).toEqual(["r-4", "r-3", "r-2"]);
    expect(entries[0]?.amount).toBeUndefined();
  });
});
