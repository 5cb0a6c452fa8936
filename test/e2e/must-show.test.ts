import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MqttConnection } from "../../transport/mqtt-connection.ts";
import { messageBytesMax } from "../../protocol/envelope.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { topicFor } from "../../protocol/topics.ts";
import { eventually } from "../broker/fixtures.ts";
import { PaymentWorld, tapHubId } from "./payment-world.ts";
import { settlementScenarios } from "./settlement-scenarios.ts";
import { TestStack } from "./stack.ts";

let world: PaymentWorld;

beforeAll(async () => {
  world = await PaymentWorld.create(await TestStack.start());
});

afterAll(async () => {
  await world?.stop();
});

beforeEach(() => {
  world.stack.refusals.refusals.splice(0);
});

describe("settlement through the embedded aedes broker (mTLS, MQTT 3.1.1)", () => {
  settlementScenarios(() => world);
});

describe("the embedded broker's own refusals, each followed by a good payment", () => {
  it("drops a payload over the size limit (PayloadTooLarge) before the service sees it", async () => {
    const before = world.snapshot();

    await world.hub("h1").link.publishRaw(topicFor("hub", "h1", "req"), Buffer.alloc(messageBytesMax + 1), { qos: 0 });

    expect((await world.stack.refusals.next(ErrorCode.PayloadTooLarge)).context).toMatchObject({ principal: "hubs/h1" });
    world.expectNothingPosted(before, "h1", []);
    await world.expectServing();
  });

  it("drops a publish to another hub's request topic (PublishNotAllowed), even of that hub's genuine request", async () => {
    const stolen = world.hub("h2").signer.payment(world.w1, 300);
    const before = world.snapshot();

    await world.hub("h1").link.publishRaw(topicFor("hub", "h2", "req"), stolen.bytes, { qos: 0 });

    expect((await world.stack.refusals.next(ErrorCode.PublishNotAllowed)).context).toMatchObject({ principal: "hubs/h1", topic: topicFor("hub", "h2", "req") });
    world.expectNothingPosted(before, "h2", [stolen.requestId]);
    await world.expectServing();
  });

  it("refuses a subscription to the hub's decisions from another hub (SubscribeNotAllowed); they stay the hub's own", async () => {
    const seen: string[] = [];
    const h1 = world.hub("h1").bundle;
    const snoop = new MqttConnection({
      url: world.stack.node.url,
      tls: { caPem: h1.caPem, certPem: h1.certPem, keyPem: h1.keyPem! },
      clientId: "hubs/h1@snoop",
      protocolVersion: 4,
      reconnectAttemptsMax: 0,
      onMessage: (topic) => seen.push(topic),
    });
    snoop.start();
    try {
      await snoop.waitConnected(5_000);
      const refused = await snoop.subscribe(topicFor("hub", tapHubId, "res"), 1).catch((error: unknown) => error);
      const wildcard = await snoop.subscribe("tapwire/v1/#", 1).catch((error: unknown) => error);
      const victim = await world.tapPay(200);
      await snoop.subscribe(topicFor("hub", "h1", "res"), 1);

      expect(isTapwireError(refused, ErrorCode.SubscribeNotAllowed)).toBe(true);
      expect(isTapwireError(wildcard, ErrorCode.SubscribeNotAllowed)).toBe(true);
      expect(world.stack.refusals.codes()).toEqual([ErrorCode.SubscribeNotAllowed, ErrorCode.SubscribeNotAllowed]);
      expect(victim).toMatchObject({ status: "approved", code: 0 });
      expect(seen).toEqual([]);
    } finally {
      await snoop.stop();
    }
    await world.expectServing();
  });

  it("refuses a TLS client without a certificate at the handshake (NoClientCertificate): its MQTT CONNECT gets no answer", async () => {
    const url = new URL(world.stack.node.url);
    const before = world.snapshot();
    const received: Buffer[] = [];
    let clientError: (Error & { code?: string }) | undefined;

    await new Promise<void>((resolve) => {
      const socket = tlsConnect({ host: url.hostname, port: Number(url.port), ca: world.stack.node.pki.ca.certPem });
      // A TLS 1.3 client has finished its side before the server checks it, so it speaks MQTT at once.
      socket.on("secureConnect", () => socket.write(mqttConnectPacket("hubs/h1")));
      socket.on("data", (chunk: Buffer) => received.push(chunk));
      socket.on("error", (error: Error & { code?: string }) => (clientError = error));
      socket.on("close", () => resolve());
    });
    const refusal = await world.stack.refusals.next(ErrorCode.NoClientCertificate);

    // Refused by the TLS layer (a handshake error, tlsCode), not later by MQTT's authenticate with a CONNACK.
    expect(world.stack.refusals.codes()).toEqual([ErrorCode.NoClientCertificate]);
    expect(refusal.context).toMatchObject({ tlsCode: expect.stringMatching(/^ERR_SSL_/) });
    expect(received).toEqual([]);
    expect(clientError?.code).toMatch(/^ERR_SSL_/);
    world.expectNothingPosted(before, "h1", []);
    await world.expectServing();
  });

  it("disconnects a revoked hub at once and refuses it at CONNECT (Revoked)", async () => {
    const revoked = world.hub("h3");
    expect((await world.pay("h3", 200)).decision.status).toBe("approved");
    const before = world.snapshot();

    world.stack.node.registry.revokeHub("h3");
    await eventually(() => !revoked.link.connected);
    const refusal = await world.stack.refusals.next(ErrorCode.Revoked);
    const late = revoked.signer.payment(world.w1, 200);
    const attempt = await revoked.link.request(late.bytes, late.requestId, 1_000).catch((error: unknown) => error);

    expect(refusal.context).toMatchObject({ principal: "hubs/h3" });
    expect(isTapwireError(attempt, ErrorCode.Offline)).toBe(true);
    expect(revoked.link.connected).toBe(false);
    world.expectNothingPosted(before, "h3", [late.requestId]);
    await world.expectServing();
  });
});

/** An MQTT 3.1.1 CONNECT (OASIS MQTT 3.1.1 §3.1): protocol "MQTT" level 4, clean session, keep-alive 60 s. */
function mqttConnectPacket(clientId: string): Buffer {
  const id = Buffer.from(clientId, "utf8");
  const variableHeader = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c]);
  const payload = Buffer.concat([Buffer.from([id.length >> 8, id.length & 0xff]), id]);
  const remainingLength = variableHeader.length + payload.length;
  return Buffer.concat([Buffer.from([0x10, remainingLength]), variableHeader, payload]);
}
