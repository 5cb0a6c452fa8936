import { connect as tlsConnect } from "node:tls";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EmbeddedBroker } from "../../broker/mqtt/embedded-broker.ts";
import { ServiceLink, type InboundRequest, type OutboundReply } from "../../broker/mqtt/service-link.ts";
import { MqttServiceTransport } from "../../broker/mqtt/mqtt-service-transport.ts";
import { InProcessServiceTransport } from "../../broker/mqtt/in-process-service-transport.ts";
import { MqttConnection } from "../../transport/mqtt-connection.ts";
import { HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { messageBytesMax } from "../../protocol/envelope.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { generateP256, type KeyPair } from "../../protocol/keys.ts";
import { hubStateFilter, principalName, topicFor, type ClientKind, type Principal } from "../../protocol/topics.ts";
import { createTestPki, eventually, RefusalLog, sealedDecision, type TestPki } from "./fixtures.ts";

const connectWaitMs = 3_000;
const fastReconnect = { reconnectDelayMsMin: 20, reconnectDelayMsMax: 100 };

let pki: TestPki;
let serviceKeys: KeyPair;

beforeAll(async () => {
  pki = await createTestPki();
  serviceKeys = generateP256();
});

interface Harness {
  broker: EmbeddedBroker;
  refusals: RefusalLog;
  active: Set<string>;
  handled: InboundRequest[];
  service: ServiceLink;
  hub(id: string, options?: { kind?: ClientKind; requestsInFlightMax?: number; onOffline?: () => void }): Promise<HubLink>;
  stopLater(stoppable: { stop(): Promise<void> }): void;
}

/** Approves every request; the request payload is its requestId. */
function approveAll(handled: InboundRequest[]) {
  return async (inbound: InboundRequest): Promise<OutboundReply[]> => {
    handled.push(inbound);
    const requestId = Buffer.from(inbound.payload).toString();
    return [{ kind: inbound.kind, id: inbound.id, payload: sealedDecision(requestId, inbound.id, serviceKeys.privateKey), expiresAtMs: Date.now() + 60_000 }];
  };
}

let harness: Harness;
const stoppables: Array<{ stop(): Promise<void> }> = [];

beforeEach(async () => {
  const refusals = new RefusalLog();
  const active = new Set(["hubs/h1", "hubs/h2", "hubs/h3", "wallets/w1", "services/settlement", "operators/ops"]);
  const broker = new EmbeddedBroker({
    tls: { caPem: pki.ca.certPem, ...pki.server },
    port: 0,
    isActive: (principal: Principal) => active.has(principalName(principal)),
    onRefusal: refusals.record,
  });
  await broker.start();
  const handled: InboundRequest[] = [];
  const service = new ServiceLink({
    transport: new MqttServiceTransport({
      url: broker.url,
      tls: await pki.identity({ kind: "service", id: "settlement" }),
      protocolVersion: 4,
      ...fastReconnect,
    }),
    handler: approveAll(handled),
  });
  service.start();
  await service.waitConnected(connectWaitMs);
  harness = {
    broker,
    refusals,
    active,
    handled,
    service,
    async hub(id, options = {}) {
      const kind = options.kind ?? "hub";
      const link = new HubLink({
        url: broker.url,
        tls: await pki.identity({ kind, id }),
        principal: { kind, id },
        protocolVersion: 4,
        servicePublicKey: serviceKeys.publicKey,
        requestsInFlightMax: options.requestsInFlightMax,
        onOffline: options.onOffline,
        ...fastReconnect,
      });
      stoppables.push(link);
      link.start();
      return link;
    },
    stopLater(stoppable) {
      stoppables.push(stoppable);
    },
  };
  stoppables.push(service, broker);
});

afterEach(async () => {
  for (const stoppable of stoppables.splice(0).reverse()) await stoppable.stop();
});

describe("EmbeddedBroker with ServiceLink and HubLink", () => {
  it("delivers a hub's request to the service and the signed decision back to the hub", async () => {
    const hub = await harness.hub("h1");
    await hub.waitConnected(connectWaitMs);

    const reply = await hub.request(Buffer.from("r-1"), "r-1", 3_000);

    expect(reply.decision.requestId).toBe("r-1");
    expect(reply.decision.status).toBe("approved");
    expect(harness.handled.map((inbound) => [inbound.kind, inbound.id])).toEqual([["hub", "h1"]]);
    expect(harness.broker.connectedClients).toBe(2);
  });

  it("serves wallets on their own topics too", async () => {
    const wallet = await harness.hub("w1", { kind: "wallet" });
    await wallet.waitConnected(connectWaitMs);

    const reply = await wallet.request(Buffer.from("w-req-1"), "w-req-1", 3_000);

    expect(reply.decision.requestId).toBe("w-req-1");
    expect(harness.handled[0]).toMatchObject({ kind: "wallet", id: "w1" });
  });

  it("drops a publish to another hub's request topic and closes the publisher's connection", async () => {
    const offline: string[] = [];
    const forger = await harness.hub("h1", { onOffline: () => offline.push("h1") });
    await forger.waitConnected(connectWaitMs);

    await forger.publishRaw(topicFor("hub", "h2", "req"), Buffer.from("forged"), { qos: 0 });
    await harness.refusals.next(ErrorCode.PublishNotAllowed);
    const honest = await harness.hub("h2");
    await honest.waitConnected(connectWaitMs);
    await honest.request(Buffer.from("r-2"), "r-2", 3_000);

    expect(harness.handled.map((inbound) => Buffer.from(inbound.payload).toString())).toEqual(["r-2"]);
    await eventually(() => offline.length > 0);
  });

  it("refuses a subscription to another hub's decisions with a SUBACK failure and keeps the connection", async () => {
    const hub = await harness.hub("h1");
    await hub.waitConnected(connectWaitMs);

    const refused = await hub.subscribe(topicFor("hub", "h2", "res")).catch((error: unknown) => error);
    const wildcard = await hub.subscribe("tapwire/v1/#").catch((error: unknown) => error);

    expect(isTapwireError(refused, ErrorCode.SubscribeNotAllowed)).toBe(true);
    expect(isTapwireError(wildcard, ErrorCode.SubscribeNotAllowed)).toBe(true);
    expect(harness.refusals.codes()).toEqual([ErrorCode.SubscribeNotAllowed, ErrorCode.SubscribeNotAllowed]);
    expect((await hub.request(Buffer.from("r-3"), "r-3", 3_000)).decision.requestId).toBe("r-3");
  });

  it("refuses a TLS client that presents no certificate", async () => {
    const closed = new Promise<void>((resolve) => {
      const socket = tlsConnect({ host: "127.0.0.1", port: harness.broker.port, ca: pki.ca.certPem });
      socket.on("error", () => undefined);
      socket.on("close", () => resolve());
    });

    await closed;

    expect((await harness.refusals.next(ErrorCode.NoClientCertificate)).code).toBe(ErrorCode.NoClientCertificate);
    expect(harness.broker.connectedClients).toBe(1);
  });

  it("refuses a certificate issued by another CA", async () => {
    const otherPki = await createTestPki("someone else's CA");
    const stranger = await otherPki.identity({ kind: "hub", id: "h1" });
    const link = new HubLink({
      url: harness.broker.url,
      tls: { ...stranger, caPem: pki.ca.certPem },
      principal: { kind: "hub", id: "h1" },
      protocolVersion: 4,
      servicePublicKey: serviceKeys.publicKey,
      reconnectAttemptsMax: 0,
    });
    harness.stopLater(link);
    link.start();

    const failure = await link.waitConnected(connectWaitMs).catch((error: unknown) => error);

    expect(isTapwireError(failure)).toBe(true);
    expect((await harness.refusals.next(ErrorCode.CertificateInvalid)).code).toBe(ErrorCode.CertificateInvalid);
    expect(harness.broker.connectedClients).toBe(1);
  });

  it("refuses an inactive principal at CONNECT", async () => {
    harness.active.delete("hubs/h3");
    const hub = await harness.hub("h3");

    const failure = await hub.waitConnected(connectWaitMs).catch((error: unknown) => error);

    expect(isTapwireError(failure, ErrorCode.ConnectRefused)).toBe(true);
    expect((await harness.refusals.next(ErrorCode.Revoked)).context).toMatchObject({ principal: "hubs/h3" });
  });

  it("disconnects a revoked principal and keeps refusing its reconnects", async () => {
    const offline: string[] = [];
    const hub = await harness.hub("h1", { onOffline: () => offline.push("h1") });
    await hub.waitConnected(connectWaitMs);

    harness.active.delete("hubs/h1");
    const closed = harness.broker.disconnect({ kind: "hub", id: "h1" });
    await eventually(() => offline.length > 0);
    await harness.refusals.next(ErrorCode.Revoked);

    expect(closed).toBe(1);
    expect(hub.connected).toBe(false);
    expect(harness.broker.connectedClients).toBe(1);
  });

  it("refuses a client id that does not belong to the certificate", async () => {
    const connection = new MqttConnection({
      url: harness.broker.url,
      tls: await pki.identity({ kind: "hub", id: "h1" }),
      clientId: "hubs/h2",
      protocolVersion: 4,
      reconnectAttemptsMax: 0,
    });
    harness.stopLater(connection);
    connection.start();

    const failure = await connection.waitConnected(connectWaitMs).catch((error: unknown) => error);

    expect(isTapwireError(failure, ErrorCode.ConnectRefused)).toBe(true);
    expect((await harness.refusals.next(ErrorCode.ClientIdMismatch)).code).toBe(ErrorCode.ClientIdMismatch);
  });

  it("drops a payload one byte over the limit", async () => {
    const hub = await harness.hub("h1");
    await hub.waitConnected(connectWaitMs);

    await hub.publishRaw(topicFor("hub", "h1", "req"), Buffer.alloc(messageBytesMax + 1), { qos: 0 });

    expect((await harness.refusals.next(ErrorCode.PayloadTooLarge)).context).toMatchObject({ payloadBytes: messageBytesMax + 1 });
    expect(harness.handled).toEqual([]);
  });

  it("cuts a huge packet off at its fixed header, before buffering it", async () => {
    const hub = await harness.hub("h1");
    await hub.waitConnected(connectWaitMs);

    await hub.publishRaw(topicFor("hub", "h1", "req"), Buffer.alloc(256 * 1024), { qos: 0 });

    const refusal = await harness.refusals.next(ErrorCode.PayloadTooLarge);
    expect(refusal.context?.["declaredBytes"]).toBeGreaterThan(256 * 1024);
    expect(harness.handled).toEqual([]);
  });

  it("refuses a retained request", async () => {
    const hub = await harness.hub("h1");
    await hub.waitConnected(connectWaitMs);

    await hub.publishRaw(topicFor("hub", "h1", "req"), Buffer.from("sticky"), { qos: 0, retain: true });

    expect((await harness.refusals.next(ErrorCode.PublishNotAllowed)).context).toMatchObject({ topic: topicFor("hub", "h1", "req") });
    expect(harness.handled).toEqual([]);
  });

  it("keeps a hub's retained state: online when connected, offline by Last Will when cut off", async () => {
    const seen: string[] = [];
    const watcher = new MqttConnection({
      url: harness.broker.url,
      tls: await pki.identity({ kind: "operator", id: "ops" }),
      clientId: "operators/ops",
      protocolVersion: 4,
      subscriptions: [{ filter: hubStateFilter, qos: 1 }],
      onMessage: (topic, payload) => seen.push(`${topic}=${payload.toString()}`),
    });
    harness.stopLater(watcher);
    watcher.start();
    await watcher.waitConnected(connectWaitMs);
    const hub = await harness.hub("h1");
    await hub.waitConnected(connectWaitMs);
    await eventually(() => seen.includes("tapwire/v1/hubs/h1/state=online"));

    harness.active.delete("hubs/h1");
    harness.broker.disconnect({ kind: "hub", id: "h1" });

    await eventually(() => seen.includes("tapwire/v1/hubs/h1/state=offline"));
    expect(seen).toEqual(["tapwire/v1/hubs/h1/state=online", "tapwire/v1/hubs/h1/state=offline"]);
  });

  it("ignores a decision that does not verify, so the request times out", async () => {
    await harness.service.stop();
    const forger = generateP256();
    const service = new ServiceLink({
      transport: new MqttServiceTransport({
        url: harness.broker.url,
        tls: await pki.identity({ kind: "service", id: "settlement" }),
        protocolVersion: 4,
      }),
      handler: async (inbound) => [
        { kind: inbound.kind, id: inbound.id, payload: sealedDecision("r-4", inbound.id, forger.privateKey), expiresAtMs: Date.now() + 60_000 },
      ],
    });
    harness.stopLater(service);
    service.start();
    await service.waitConnected(connectWaitMs);
    const hub = await harness.hub("h1");
    await hub.waitConnected(connectWaitMs);

    const failure = await hub.request(Buffer.from("r-4"), "r-4", 300).catch((error: unknown) => error);

    expect(isTapwireError(failure, ErrorCode.DecisionTimeout)).toBe(true);
  });

  it("bounds the requests a hub link keeps waiting", async () => {
    const hub = await harness.hub("h1", { requestsInFlightMax: 1 });
    await hub.waitConnected(connectWaitMs);

    const first = hub.request(Buffer.from("r-5"), "r-5", 3_000);
    const second = await hub.request(Buffer.from("r-6"), "r-6", 3_000).catch((error: unknown) => error);

    expect(isTapwireError(second, ErrorCode.InflightFull)).toBe(true);
    expect((await first).decision.requestId).toBe("r-5");
  });

  it.each(["mqtt", "in-process"] as const)("over %s, beyond handlerCallsInFlightMax a request is dropped at the edge and counted; reading never stops", async (route) => {
    const gates: Array<() => void> = [];
    const service = await replaceService(route, 2, async (inbound) => {
      await new Promise<void>((resolve) => gates.push(resolve));
      return approveAll([])(inbound);
    });
    const hub = await harness.hub("h1");
    await hub.waitConnected(connectWaitMs);

    const held = ["b-1", "b-2"].map((id) => hub.request(Buffer.from(id), id, 5_000));
    await eventually(() => gates.length === 2);
    const shed = ["b-3", "b-4", "b-5"].map((id) => hub.request(Buffer.from(id), id, 300).catch((error: unknown) => error));
    await eventually(() => service.droppedMessages === 3);
    expect(service.handlerCallsInFlight).toBe(2);
    for (const release of gates.splice(0)) release();

    expect((await Promise.all(held)).map((reply) => reply.decision.requestId)).toEqual(["b-1", "b-2"]);
    for (const failure of await Promise.all(shed)) expect(isTapwireError(failure, ErrorCode.DecisionTimeout)).toBe(true);
    // The link kept reading: a request after the flood is handled at once.
    const after = hub.request(Buffer.from("b-6"), "b-6", 5_000);
    await eventually(() => gates.length === 1);
    gates.shift()!();
    expect((await after).decision.requestId).toBe("b-6");
  });

  it("fails a request fast when the link is not connected", async () => {
    const hub = await harness.hub("h1");

    const failure = await hub.request(Buffer.from("r-7"), "r-7", 3_000).catch((error: unknown) => error);

    expect(isTapwireError(failure, ErrorCode.Offline)).toBe(true);
  });
});

describe("the service inside the embedded broker's process", () => {
  it("takes hubs' and wallets' requests and routes the signed decisions back, with no MQTT client of its own", async () => {
    const handled: InboundRequest[] = [];
    await replaceService("in-process", 16, approveAll(handled));
    const hub = await harness.hub("h1");
    const wallet = await harness.hub("w1", { kind: "wallet" });
    await hub.waitConnected(connectWaitMs);
    await wallet.waitConnected(connectWaitMs);

    const replies = await Promise.all([hub.request(Buffer.from("r-1"), "r-1", 3_000), wallet.request(Buffer.from("w-1"), "w-1", 3_000)]);

    expect(replies.map((reply) => reply.decision.requestId)).toEqual(["r-1", "w-1"]);
    expect(handled.map((inbound) => [inbound.kind, inbound.id])).toEqual([["hub", "h1"], ["wallet", "w1"]]);
    expect(harness.broker.connectedClients).toBe(2);
  });

  it("still never sees a publish the broker refused", async () => {
    const handled: InboundRequest[] = [];
    await replaceService("in-process", 16, approveAll(handled));
    const forger = await harness.hub("h1");
    await forger.waitConnected(connectWaitMs);

    await forger.publishRaw(topicFor("hub", "h2", "req"), Buffer.from("forged"), { qos: 0 });
    await harness.refusals.next(ErrorCode.PublishNotAllowed);
    const honest = await harness.hub("h2");
    await honest.waitConnected(connectWaitMs);
    await honest.request(Buffer.from("r-2"), "r-2", 3_000);

    expect(handled.map((inbound) => Buffer.from(inbound.payload).toString())).toEqual(["r-2"]);
  });

  it("once stopped, takes nothing more: requests go unanswered and replies are not sent", async () => {
    const handled: InboundRequest[] = [];
    const service = await replaceService("in-process", 16, approveAll(handled));
    const hub = await harness.hub("h1");
    await hub.waitConnected(connectWaitMs);
    await service.stop();

    const failure = await hub.request(Buffer.from("r-3"), "r-3", 300).catch((error: unknown) => error);

    expect(isTapwireError(failure, ErrorCode.DecisionTimeout)).toBe(true);
    expect(handled).toEqual([]);
    expect(service.connected).toBe(false);
  });
});

/** Stops the harness's MQTT service link and starts one over `route` in its place. */
async function replaceService(route: "mqtt" | "in-process", handlerCallsInFlightMax: number, handler: (inbound: InboundRequest) => Promise<OutboundReply[]>): Promise<ServiceLink> {
  await harness.service.stop();
  const transport =
    route === "in-process"
      ? new InProcessServiceTransport(harness.broker)
      : new MqttServiceTransport({ url: harness.broker.url, tls: await pki.identity({ kind: "service", id: "settlement" }), protocolVersion: 4 });
  const service = new ServiceLink({ transport, handlerCallsInFlightMax, handler });
  harness.stopLater(service);
  service.start();
  await service.waitConnected(connectWaitMs);
  return service;
}
