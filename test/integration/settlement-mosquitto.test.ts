import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import { MqttConnection } from "../../transport/mqtt-connection.ts";
import { messageBytesMax } from "../../protocol/envelope.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import type { MerchantEvent } from "../../protocol/merchant-feed.ts";
import { merchantFeedTopic, topicFor } from "../../protocol/topics.ts";
import { MerchantFeedClient } from "../../sdk/merchant-feed.ts";
import { eventually } from "../broker/fixtures.ts";
import { PaymentWorld } from "../e2e/payment-world.ts";
import { settlementScenarios } from "../e2e/settlement-scenarios.ts";
import { TestStack } from "../e2e/stack.ts";
import { startMosquitto, type RunningMosquitto } from "../support/mosquitto.ts";

/**
 * The same scenarios as test/e2e, with the settlement node as an MQTT 5 client of a private Mosquitto that
 * authenticates by client certificate (CN = username) and authorizes with the tapwire ACL (%u patterns).
 */
let world: PaymentWorld;
let mosquitto: RunningMosquitto;

beforeAll(async () => {
  const stack = await TestStack.start({
    externalBroker: async (pki) => {
      mosquitto = await startMosquitto({ caPem: pki.ca.certPem, certPem: pki.server.certPem, keyPem: pki.server.keyPem });
      return mosquitto;
    },
  });
  world = await PaymentWorld.create(stack);
});

afterAll(async () => {
  await world?.stop();
});

describe("settlement through Mosquitto (MQTT 5, mTLS, ACL from the certificate identity)", () => {
  settlementScenarios(() => world);
});

describe("Mosquitto's own refusals, each followed by a good payment", () => {
  it("drops a payload over message_size_limit before the service sees it", async () => {
    const before = world.snapshot();

    // QoS 0: Mosquitto answers a too-large QoS 1 publish with PUBACK 0x95, which mqtt.js cannot parse.
    await world.hub("h1").link.publishRaw(topicFor("hub", "h1", "req"), Buffer.alloc(messageBytesMax + 1), { qos: 0 });
    await expectLogged("Dropped too large PUBLISH from hubs/h1");

    world.expectNothingPosted(before, "h1", []);
    await world.expectServing();
  });

  it("refuses a publish to another hub's request topic (PUBACK 0x87 → PublishNotAllowed), even of that hub's genuine request", async () => {
    const stolen = world.hub("h2").signer.payment(world.w1, 300);
    const before = world.snapshot();

    const refused = await world.hub("h1").link.publishRaw(topicFor("hub", "h2", "req"), stolen.bytes, { qos: 1 }).catch((error: unknown) => error);

    expect(isTapwireError(refused, ErrorCode.PublishNotAllowed)).toBe(true);
    world.expectNothingPosted(before, "h2", [stolen.requestId]);
    await world.expectServing();
  });

  it("never delivers another hub's decisions to a hub that subscribes to them", async () => {
    // Mosquitto 2.0 grants the SUBACK and applies the read ACL at delivery, so the proof is what arrives. The snooper
    // is a hub of its own: with use_username_as_clientid, a second connection under h1's certificate would take over
    // the world's h1 link (and be taken over back), which is the takeover the config is there to stop.
    const seen: string[] = [];
    const snoop = snooper(await world.stack.node.enrollHub({ hubId: "h9", merchantId: "m1" }), "hubs/h9", seen);
    snoop.start();
    try {
      await snoop.waitConnected(5_000);
      await snoop.subscribe(topicFor("hub", "h2", "res"), 1).catch(() => undefined);
      await snoop.subscribe("tapwire/v1/#", 1).catch(() => undefined);

      const victim = await world.pay("h2", 200);
      await snoop.subscribe(topicFor("hub", "h9", "res"), 1);

      expect(victim.decision.status).toBe("approved");
      expect(seen).toEqual([]);
    } finally {
      await snoop.stop();
    }
    await world.expectServing();
  });

  it("refuses a TLS client without a certificate: its CONNECT gets no CONNACK", async () => {
    const connectPacket = Buffer.from([0x10, 0x0d, 0x00, 0x04, ...Buffer.from("MQTT"), 0x04, 0x02, 0x00, 0x1e, 0x00, 0x01, 0x78]);

    const received = await new Promise<number>((resolve) => {
      let bytes = 0;
      const socket = tlsConnect({ host: mosquitto.host, port: mosquitto.port, ca: world.stack.node.pki.ca.certPem, servername: "localhost" });
      socket.on("secureConnect", () => socket.write(connectPacket));
      socket.on("data", (chunk: Buffer) => (bytes += chunk.length));
      socket.on("error", () => undefined);
      socket.on("close", () => resolve(bytes));
    });

    expect(received).toBe(0);
    await world.expectServing();
  });

  it("refuses every message of a revoked hub (Revoked), though Mosquitto keeps it connected", async () => {
    const revoked = world.hub("h3");
    expect((await world.pay("h3", 200)).decision.status).toBe("approved");

    world.stack.node.registry.revokeHub("h3");
    const before = world.snapshot();
    const late = revoked.signer.payment(world.w1, 200);
    const refused = await world.send("h3", late);

    expect(revoked.link.connected).toBe(true);
    expect(refused.decision).toMatchObject({ status: "declined", code: ErrorCode.Revoked, requestId: late.requestId });
    world.expectNothingPosted(before, "h3", [late.requestId]);
    await world.expectServing();
  });
});

describe("a merchant's signed event feed through Mosquitto (generated ACL)", () => {
  it("the merchant takes its events; another merchant subscribing to them gets nothing", async () => {
    const node = world.stack.node;
    node.registry.enrollMerchant({ merchantId: "m9", currency: "EUR" });
    const [m1, m9] = [await node.enrollMerchantFeed({ merchantId: "m1" }), await node.enrollMerchantFeed({ merchantId: "m9" })];
    const snooped: string[] = [];
    const snoop = snooper(m9, "merchants/m9", snooped);
    const taken: MerchantEvent[] = [];
    let position = 0;
    const feed = new MerchantFeedClient({
      url: mosquitto.url,
      merchantId: "m1",
      tls: { caPem: m1.caPem, certPem: m1.certPem, keyPem: m1.keyPem! },
      servicePublicKeyPem: m1.servicePublicKeyPem,
      protocolVersion: 5,
      position: { read: () => position, write: (seq) => (position = seq) },
      onEvent: (event) => void taken.push(event),
    });
    snoop.start();
    feed.start();
    try {
      await snoop.waitConnected(5_000);
      await snoop.subscribe(merchantFeedTopic("m1", "events"), 1).catch(() => undefined);
      await feed.waitConnected(5_000);
      const paid = await world.pay("h1", 450);
      expect(paid.decision.status).toBe("approved");
      await eventually(() => taken.some((event) => event.requestId === paid.decision.requestId), 5_000);
      expect(taken.every((event) => event.merchantId === "m1")).toBe(true);
      expect(snooped).toEqual([]);
    } finally {
      await feed.stop();
      await snoop.stop();
    }
  });
});

/** A connection with another principal's certificate that records every topic that reaches it. */
function snooper(bundle: EnrolmentBundle, clientId: string, seen: string[]): MqttConnection {
  return new MqttConnection({
    url: mosquitto.url,
    tls: { caPem: bundle.caPem, certPem: bundle.certPem, keyPem: bundle.keyPem! },
    clientId,
    protocolVersion: 5,
    reconnectAttemptsMax: 0,
    onMessage: (topic) => seen.push(topic),
  });
}

/** Mosquitto reports this refusal only in its log; waits (bounded) for the line to be written. */
async function expectLogged(line: string, timeoutMs = 3_000): Promise<void> {
  const stepMs = 20;
  for (let waitedMs = 0; waitedMs < timeoutMs; waitedMs += stepMs) {
    if ((await mosquitto.log()).includes(line)) return;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
  expect(await mosquitto.log()).toContain(line);
}
