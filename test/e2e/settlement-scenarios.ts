import { expect, it } from "vitest";
import { HubRequestSigner } from "../../simulator/hub-client/request-signer.ts";
import { openSealed } from "../../protocol/envelope.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { decisionSchema } from "../../protocol/messages.ts";
import { tapHubId, type PaymentWorld } from "./payment-world.ts";

/**
 * The foundation's "must show" list for what the settlement service decides, registered as tests against
 * whichever broker the calling file set the world up on (embedded aedes, or Mosquitto over MQTT 5). Honest sales
 * run on the real hub runtime; forged, replayed and malformed requests come from the attacker's raw hubs. Every
 * decision is checked against the service key by the receiving link before a test sees it.
 */
export function settlementScenarios(world: () => PaymentWorld): void {
  it("approves a tap on the hub, posts it once, and the ledger balances", async () => {
    const w = world();
    const before = w.snapshot();

    const outcome = await w.tapPay(1_250);

    expect(outcome).toMatchObject({ status: "approved", code: 0 });
    expect(outcome.payment).toMatchObject({ hubId: tapHubId, merchantId: "m1", walletId: "w3", mode: "reader", amountMinor: 1_250, currency: "EUR", status: "captured" });
    const after = w.snapshot();
    expect(after.transfers).toBe(before.transfers + 1);
    expect(after.balances["wallet:w3"]).toBe(before.balances["wallet:w3"]! - 1_250);
    expect(after.balances["merchant:m1"]).toBe(before.balances["merchant:m1"]! + 1_250);
    w.stack.node.service.ledger.checkInvariants();
  });

  it("declines a tap beyond the wallet's funds (InsufficientFunds) and posts nothing", async () => {
    const w = world();
    const before = w.snapshot();

    const outcome = await w.tapPay(2_000, "poor");

    expect(outcome).toMatchObject({ status: "declined", code: ErrorCode.InsufficientFunds, payment: undefined });
    w.expectNothingPosted(before, tapHubId, []);
    await w.expectServing();
  });

  it("refuses a forged signature (BadSignature); the genuine bytes are still approved after it", async () => {
    const w = world();
    const genuine = w.hub("h1").signer.payment(w.w1, 300);
    const forged = Buffer.from(genuine.bytes);
    forged[forged.length - 1]! ^= 0x01;
    const before = w.snapshot();

    const refused = await w.send("h1", { bytes: forged, requestId: genuine.requestId });

    expect(refused.decision).toMatchObject({ status: "declined", code: ErrorCode.BadSignature, requestId: genuine.requestId });
    w.expectNothingPosted(before, "h1", [genuine.requestId]);
    expect((await w.send("h1", genuine)).decision.status).toBe("approved");
    await w.expectServing();
  });

  it("refuses a hub signing with another hub's key (BadSignature) or naming another hub (HubMismatch)", async () => {
    const w = world();
    const withH2Key = new HubRequestSigner({ hubId: "h1", merchantId: "m1", privateKey: w.hub("h2").key, requestIdPrefix: "h1-h2key-" });
    const asH2 = new HubRequestSigner({ hubId: "h2", merchantId: "m1", privateKey: w.hub("h1").key, requestIdPrefix: "h1-as-h2-" });
    const stolenKey = withH2Key.payment(w.w1, 300);
    const impersonation = asH2.payment(w.w1, 300);
    const before = w.snapshot();

    const badKey = await w.send("h1", stolenKey);
    const mismatch = await w.send("h1", impersonation);

    expect(badKey.decision).toMatchObject({ status: "declined", code: ErrorCode.BadSignature });
    expect(mismatch.decision).toMatchObject({ status: "declined", code: ErrorCode.HubMismatch, hubId: "h1" });
    w.expectNothingPosted(before, "h1", [stolenKey.requestId, impersonation.requestId]);
    expect(w.stack.node.service.findPayment("h2", impersonation.requestId)).toBeUndefined();
    await w.expectServing();
  });

  it("refuses a request queued at the service when its hub is revoked (Revoked)", async () => {
    const w = world();
    const { node } = w.stack;
    const request = w.h4.signer.payment(w.w1, 300);
    const before = w.snapshot();

    // Exactly what the service link hands over for a message on hubs/h4/req; the batch drains on a later turn.
    const answered = node.service.handle({ kind: "hub", id: "h4", payload: request.bytes });
    node.registry.revokeHub("h4");
    const outbound = await answered;

    expect(outbound.map((o) => [o.kind, o.id])).toEqual([["hub", "h4"]]);
    expect(openSealed(outbound[0]!.payload, node.service.publicKey, decisionSchema).body).toMatchObject({
      status: "declined",
      code: ErrorCode.Revoked,
      requestId: request.requestId,
    });
    w.expectNothingPosted(before, "h4", [request.requestId]);
    await w.expectServing();
  });

  it("refuses a replayed seq under a new request id (SeqReplayed)", async () => {
    const w = world();
    const { signer } = w.hub("h1");
    expect((await w.pay("h1", 100)).decision.status).toBe("approved");
    const replay = signer.payment(w.w1, 300, { seq: signer.lastSeq, requestId: `h1-replay-${signer.lastSeq}` });
    const before = w.snapshot();

    const refused = await w.send("h1", replay);

    expect(refused.decision).toMatchObject({ status: "declined", code: ErrorCode.SeqReplayed });
    w.expectNothingPosted(before, "h1", [replay.requestId]);
    await w.expectServing();
  });

  it("refuses an expired request (MessageExpired)", async () => {
    const w = world();
    const stale = w.hub("h1").signer.payment(w.w1, 300, { iatMs: Date.now() - 10 * 60_000 });
    const before = w.snapshot();

    const refused = await w.send("h1", stale);

    expect(refused.decision).toMatchObject({ status: "declined", code: ErrorCode.MessageExpired });
    w.expectNothingPosted(before, "h1", [stale.requestId]);
    await w.expectServing();
  });

  it("refuses a reused request id with a changed amount (RequestIdReused) and keeps the first payment as it was", async () => {
    const w = world();
    const first = await w.pay("h1", 700);
    const changed = w.hub("h1").signer.payment(w.w1, 900, { requestId: first.requestId });
    const before = w.snapshot();

    const refused = await w.send("h1", changed);

    expect(first.decision.status).toBe("approved");
    expect(refused.decision).toMatchObject({ status: "declined", code: ErrorCode.RequestIdReused, requestId: first.requestId });
    expect(w.snapshot()).toEqual(before);
    expect(w.stack.node.service.findPayment("h1", first.requestId)?.amountMinor).toBe(700);
    await w.expectServing();
  });

  it("refuses malformed CBOR (MalformedCbor) with a decision the hub can still verify", async () => {
    const w = world();
    const before = w.snapshot();

    await w.publishOwn("h1", Buffer.from([0xff, 0x00, 0x13, 0x37]));
    const refused = await w.hub("h1").inbox.next((reply) => reply.decision.code === ErrorCode.MalformedCbor);

    expect(refused.decision).toMatchObject({ status: "declined", requestId: "", hubId: "h1" });
    expect(Buffer.from(refused.decision.requestHash).equals(Buffer.alloc(32))).toBe(true);
    w.expectNothingPosted(before, "h1", []);
    await w.expectServing();
  });

  it("answers 5 concurrent copies of one request with one transfer and 5 byte-identical decisions", async () => {
    const w = world();
    const request = w.hub("h1").signer.payment(w.w1, 450);
    const before = w.snapshot();

    await Promise.all(Array.from({ length: 5 }, () => w.publishOwn("h1", request.bytes)));
    const replies = await w.hub("h1").inbox.take((reply) => reply.decision.requestId === request.requestId, 5);

    expect(replies.map((reply) => reply.decision.status)).toEqual(Array(5).fill("approved"));
    for (const reply of replies) expect(reply.bytes.equals(replies[0]!.bytes)).toBe(true);
    const after = w.snapshot();
    expect(after.transfers).toBe(before.transfers + 1);
    expect(after.balances["merchant:m1"]).toBe(before.balances["merchant:m1"]! + 450);
    w.stack.node.service.ledger.checkInvariants();
  });
}
