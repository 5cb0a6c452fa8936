import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MqttConnection } from "../../firmware-bridge/mqtt/connection.ts";
import { messageBytesMax } from "../../protocol/envelope.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { topicFor } from "../../protocol/topics.ts";
import { eventually } from "../broker/fixtures.ts";
import { PaymentWorld } from "./payment-world.ts";
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

  it("refuses a subscription to another hub's decisions (SubscribeNotAllowed); that hub's decisions stay its own", async () => {
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
      const refused = await snoop.subscribe(topicFor("hub", "h2", "res"), 1).catch((error: unknown) => error);
      const wildcard = await snoop.subscribe("tapwire/v1/#", 1).catch((error: unknown) => error);
      const victim = await world.pay("h2", 200);
      await snoop.subscribe(topicFor("hub", "h1", "res"), 1);

      expect(isTapwireError(refused, ErrorCode.SubscribeNotAllowed)).toBe(true);
      expect(isTapwireError(wildcard, ErrorCode.SubscribeNotAllowed)).toBe(true);
      expect(world.stack.refusals.codes()).toEqual([ErrorCode.SubscribeNotAllowed, ErrorCode.SubscribeNotAllowed]);
      expect(victim.decision.status).toBe("approved");
      expect(seen).toEqual([]);
    } finally {
      await snoop.stop();
    }
    await world.expectServing();
  });

  it("refuses a TLS client without a certificate (NoClientCertificate)", async () => {
    const url = new URL(world.stack.node.url);
    const before = world.snapshot();

    await new Promise<void>((resolve) => {
      const socket = tlsConnect({ host: url.hostname, port: Number(url.port), ca: world.stack.node.pki.ca.certPem });
      socket.on("error", () => undefined);
      socket.on("close", () => resolve());
    });

    expect((await world.stack.refusals.next(ErrorCode.NoClientCertificate)).code).toBe(ErrorCode.NoClientCertificate);
    world.expectNothingPosted(before, "h1", []);
    await world.expectServing();
  });

  it("disconnects a revoked hub at once and refuses it at CONNECT (PrincipalInactive)", async () => {
    const revoked = world.hub("h3");
    expect((await world.pay("h3", 200)).decision.status).toBe("approved");
    const before = world.snapshot();

    world.stack.node.registry.revokeHub("h3");
    await eventually(() => !revoked.link.connected);
    const refusal = await world.stack.refusals.next(ErrorCode.PrincipalInactive);
    const late = revoked.signer.payment(world.w1, 200);
    const attempt = await revoked.link.request(late.bytes, late.requestId, 1_000).catch((error: unknown) => error);

    expect(refusal.context).toMatchObject({ principal: "hubs/h3" });
    expect(isTapwireError(attempt, ErrorCode.Offline)).toBe(true);
    expect(revoked.link.connected).toBe(false);
    world.expectNothingPosted(before, "h3", [late.requestId]);
    await world.expectServing();
  });
});
