import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EventCursor } from "../../broker/merchant-events/event-cursor.ts";
import { MerchantEventDispatch, dispatchDefaults } from "../../broker/merchant-events/event-dispatch.ts";
import { EvidenceReader } from "../../broker/merchant-events/evidence-reader.ts";
import type { MerchantEvent } from "../../protocol/merchant-feed.ts";
import { deliveryHeader, postEvent, signatureHeader, verifyWebhookSignature, webhookSignature } from "../../broker/merchant-events/webhook.ts";
import { decodeSign1, verifySign1 } from "../../protocol/cose.ts";
import { SettlementFixture } from "../settlement/fixtures.ts";
import { AgentFixture, disputeOpen } from "../agents/fixtures.ts";

const secret = "whsec-test-0123456789abcdef";

let fixture: SettlementFixture | undefined;
let reader: EvidenceReader | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  reader?.close();
  await receiver?.close();
  await fixture?.close();
  fixture = reader = receiver = undefined;
});

/** A merchant's webhook endpoint on 127.0.0.1: checks signatures, keeps the first of each delivery id. */
class Receiver {
  readonly seen = new Map<string, MerchantEvent>();
  deliveries = 0;
  forged = 0;
  private server: Server | undefined;
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/tapwire`;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    this.deliveries += 1;
    if (!verifyWebhookSignature(secret, request.headers[signatureHeader] as string | undefined, body, Date.now())) {
      this.forged += 1;
      response.writeHead(400).end();
      return;
    }
    const event = JSON.parse(body) as MerchantEvent;
    expect(request.headers[deliveryHeader]).toBe(event.deliveryId);
    if (!this.seen.has(event.deliveryId)) this.seen.set(event.deliveryId, event);
    response.writeHead(204).end();
  }
}

/** Payments, a decline and a reversal at merchant m1 through the real service. */
async function trade(f: SettlementFixture): Promise<{ declineCode: number }> {
  const first = f.hub.paymentRequest(f.wallet, 1_200);
  expect(await f.decisionFor(f.hub, first.bytes)).toMatchObject({ status: "approved" });
  expect(await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 300).bytes)).toMatchObject({ status: "approved" });
  const declined = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 1_000_000).bytes);
  expect(declined).toMatchObject({ status: "declined" });
  expect(await f.decisionFor(f.hub, f.hub.reversal(first.body.requestId).bytes)).toMatchObject({ status: "approved" });
  return { declineCode: declined.code };
}

function webhookDispatch(f: SettlementFixture, cursorFile: string, url: () => string): MerchantEventDispatch {
  reader ??= new EvidenceReader(f.databasePath);
  return new MerchantEventDispatch({
    reader,
    merchantId: "m1",
    cursor: new EventCursor(cursorFile),
    deliver: async (event) => (await postEvent(url(), secret, event, Date.now(), 2_000)).ok,
    ...dispatchDefaults,
  });
}

describe("merchant events from the evidence chain, over signed webhooks", () => {
  it("tells the merchant each payment, decline and reversal, with the service's signed decision inside", async () => {
    fixture = await SettlementFixture.create({ fundMinor: 10_000 });
    const { declineCode } = await trade(fixture);
    receiver = new Receiver();
    await receiver.start();

    const { delivered, blocked } = await webhookDispatch(fixture, join(fixture.dir, "m1.cursor"), () => receiver!.url).step();

    expect({ delivered, blocked }).toEqual({ delivered: 4, blocked: false });
    const events = [...receiver.seen.values()];
    expect(events.map((event) => event.type)).toEqual(["payment.approved", "payment.approved", "payment.declined", "payment.reversed"]);
    expect(events[0]).toMatchObject({ merchantId: "m1", amountMinor: 1_200, currency: "EUR" });
    expect(events[2]).toMatchObject({ code: declineCode });
    expect(declineCode).not.toBe(0);
    for (const event of events) {
      const parts = decodeSign1(Buffer.from(event.decision, "base64"));
      expect(() => verifySign1(parts, fixture!.serviceKeys.publicKey)).not.toThrow();
    }
    expect(receiver.forged).toBe(0);
  });

  it("a receiver down mid-stream and back: every event arrives, in order, each delivery id once (interrupted)", async () => {
    fixture = await SettlementFixture.create({ fundMinor: 10_000 });
    const cursorFile = join(fixture.dir, "m1.cursor");
    receiver = new Receiver();
    await receiver.start();
    await trade(fixture);
    const dispatch = webhookDispatch(fixture, cursorFile, () => receiver!.url);
    expect(await dispatch.step()).toEqual({ delivered: 4, blocked: false });

    const port = receiver.port;
    await receiver.close();
    await trade(fixture);
    expect(await dispatch.step()).toEqual({ delivered: 0, blocked: true });
    const seenBefore = new Map(receiver.seen);
    receiver = new Receiver();
    for (const [id, event] of seenBefore) receiver.seen.set(id, event);
    await receiver.start(port);
    // A restarted sender resumes from its cursor file.
    const restarted = webhookDispatch(fixture, cursorFile, () => receiver!.url);
    expect(await restarted.step()).toEqual({ delivered: 4, blocked: false });

    const seqs = [...receiver.seen.values()].map((event) => event.seq);
    expect(seqs).toHaveLength(8);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(receiver.deliveries).toBe(4);
  });

  it("a forged or stale signature, or a body changed in transit, is refused by the receiver's check (forged, replayed)", () => {
    const body = JSON.stringify({ deliveryId: "evt_1" });
    const nowMs = Date.now();
    const header = `t=${nowMs},v1=${"0".repeat(64)}`;
    expect(verifyWebhookSignature(secret, header, body, nowMs)).toBe(false);
    const signed = webhookSignature(secret, nowMs, body);
    expect(verifyWebhookSignature(secret, signed, body, nowMs)).toBe(true);
    expect(verifyWebhookSignature(secret, signed, `${body} `, nowMs)).toBe(false);
    expect(verifyWebhookSignature(secret, signed, body, nowMs + 10 * 60_000)).toBe(false);
    expect(verifyWebhookSignature("another-secret-0000", signed, body, nowMs)).toBe(false);
    expect(verifyWebhookSignature(secret, undefined, body, nowMs)).toBe(false);
  });
});

describe("merchant events of a dispute", () => {
  it("the merchant is told when its payment is disputed and when the operator resolves it (a refund)", async () => {
    const a = await AgentFixture.create();
    try {
      const paid = await a.f.decisionFor(a.f.hub, a.f.hub.paymentRequest(a.f.wallet, 1_500).bytes);
      const opened = await a.fromWallet(a.f.wallet, disputeOpen(a.f.wallet, a.f.clock, paid.receipt!.paymentId));
      a.service.decideReview(opened.caseId!, "approve", "alice");
      const told: MerchantEvent[] = [];
      const disputeReader = new EvidenceReader(a.f.databasePath);
      try {
        const dispatch = new MerchantEventDispatch({
          reader: disputeReader,
          merchantId: "m1",
          cursor: { read: () => 0, write: () => undefined },
          deliver: async (event) => (told.push(event), true),
          ...dispatchDefaults,
        });
        await dispatch.step();
      } finally {
        disputeReader.close();
      }

      expect(told.map((event) => event.type)).toEqual(["payment.approved", "dispute.opened", "dispute.resolved"]);
      expect(told[2]).toMatchObject({ requestType: "dispute_open", amountMinor: 1_500, merchantId: "m1" });
    } finally {
      await a.close();
    }
  });
});
