import { connect as tlsConnect } from "node:tls";
import type { IPublishPacket } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ServiceLink, type InboundRequest } from "../../broker/mqtt/service-link.ts";
import { MqttServiceTransport } from "../../broker/mqtt/mqtt-service-transport.ts";
import { MqttConnection } from "../../transport/mqtt-connection.ts";
import { HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { messageBytesMax } from "../../protocol/envelope.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { generateP256, type KeyPair } from "../../protocol/keys.ts";
import { settlementPrincipal, topicFor } from "../../protocol/topics.ts";
import { issueCrl, readCertificate } from "../../broker/pki/certificates.ts";
import { createTestPki, eventually, sealedDecision, type TestPki } from "../broker/fixtures.ts";
import { startMosquitto, type RunningMosquitto } from "../support/mosquitto.ts";

const connectWaitMs = 5_000;

let pki: TestPki;
let serviceKeys: KeyPair;
let mosquitto: RunningMosquitto;
let service: ServiceLink;
/** Its certificate's serial is in the CRL Mosquitto loads (crlfile), as `tapwire pki crl` writes it. */
let revokedHub: { caPem: string; certPem: string; keyPem: string };
const handled: InboundRequest[] = [];
const stoppables: Array<{ stop(): Promise<void> }> = [];

beforeAll(async () => {
  pki = await createTestPki();
  serviceKeys = generateP256();
  revokedHub = await pki.identity({ kind: "hub", id: "h-revoked" });
  const nowMs = Date.now();
  const crlPem = await issueCrl(pki.ca, [{ serialHex: readCertificate(revokedHub.certPem).serialHex, revokedAtMs: nowMs - 1_000 }], {
    notBeforeMs: nowMs - 60_000,
    notAfterMs: nowMs + 86_400_000,
  });
  mosquitto = await startMosquitto({ caPem: pki.ca.certPem, ...pki.server, crlPem });
  service = new ServiceLink({
    transport: new MqttServiceTransport({
      url: mosquitto.url,
      tls: await pki.identity({ kind: "service", id: "settlement" }),
      protocolVersion: 5,
      sharedGroup: "settlement",
      instance: "worker-1",
    }),
    handler: async (inbound) => {
      handled.push(inbound);
      const requestId = Buffer.from(inbound.payload).toString();
      return [{ kind: inbound.kind, id: inbound.id, payload: sealedDecision(requestId, inbound.id, serviceKeys.privateKey), expiresAtMs: Date.now() + 30_000 }];
    },
  });
  service.start();
  await service.waitConnected(connectWaitMs);
});

afterEach(async () => {
  for (const stoppable of stoppables.splice(0).reverse()) await stoppable.stop();
});

afterAll(async () => {
  await service?.stop();
  await mosquitto?.stop();
});

async function hubLink(id: string): Promise<HubLink> {
  const link = new HubLink({
    url: mosquitto.url,
    tls: await pki.identity({ kind: "hub", id }),
    principal: { kind: "hub", id },
    protocolVersion: 5,
    servicePublicKey: serviceKeys.publicKey,
    reconnectAttemptsMax: 0,
  });
  stoppables.push(link);
  link.start();
  await link.waitConnected(connectWaitMs);
  return link;
}

/** Whether a client with this certificate gets connected (TLS handshake and CONNACK); it stays connected until the test ends. */
async function connects(identity: { caPem: string; certPem: string; keyPem: string }, clientId: string): Promise<boolean> {
  const connection = new MqttConnection({ url: mosquitto.url, tls: identity, clientId, protocolVersion: 5, reconnectAttemptsMax: 0 });
  stoppables.push(connection);
  connection.start();
  return connection.waitConnected(connectWaitMs).then(
    () => true,
    () => false,
  );
}

describe("Mosquitto with the tapwire ACL (MQTT 5, shared subscription)", () => {
  it("round-trips a request: Response Topic and Correlation Data in, Correlation Data and Message Expiry out", async () => {
    const replies: IPublishPacket[] = [];
    const hub = new MqttConnection({
      url: mosquitto.url,
      tls: await pki.identity({ kind: "hub", id: "h1" }),
      clientId: "hubs/h1",
      protocolVersion: 5,
      subscriptions: [{ filter: topicFor("hub", "h1", "res"), qos: 1 }],
      onMessage: (_topic, _payload, packet) => replies.push(packet),
    });
    stoppables.push(hub);
    hub.start();
    await hub.waitConnected(connectWaitMs);

    await hub.publish(topicFor("hub", "h1", "req"), Buffer.from("m-1"), {
      qos: 1,
      properties: { responseTopic: topicFor("hub", "h1", "res"), correlationData: Buffer.from("m-1") },
    });
    await eventually(() => replies.length === 1, 5_000);

    expect(handled.at(-1)).toMatchObject({ kind: "hub", id: "h1" });
    expect(handled.at(-1)?.correlationData?.toString()).toBe("m-1");
    expect(replies[0]?.properties?.correlationData?.toString()).toBe("m-1");
    expect(replies[0]?.properties?.messageExpiryInterval).toBeGreaterThan(0);
    expect(replies[0]?.properties?.messageExpiryInterval).toBeLessThanOrEqual(30);
  });

  it("answers a HubLink request with the verified decision", async () => {
    const hub = await hubLink("h2");

    const reply = await hub.request(Buffer.from("m-2"), "m-2", 5_000);

    expect(reply.decision.requestId).toBe("m-2");
  });

  it("refuses a publish to another hub's request topic (PUBACK not authorized) and never delivers it", async () => {
    const forger = await hubLink("h1");
    const before = handled.length;

    const refused = await forger.publishRaw(topicFor("hub", "h2", "req"), Buffer.from("forged"), { qos: 1 }).catch((error: unknown) => error);
    await forger.request(Buffer.from("m-3"), "m-3", 5_000);

    expect(isTapwireError(refused, ErrorCode.PublishNotAllowed)).toBe(true);
    expect(handled.slice(before).map((inbound) => [inbound.id, Buffer.from(inbound.payload).toString()])).toEqual([["h1", "m-3"]]);
  });

  it("never delivers another hub's decisions to a hub that subscribes to them", async () => {
    // Mosquitto 2.0 grants the SUBACK and applies the read ACL at delivery, so the proof is what arrives.
    const seen: string[] = [];
    const snoop = new MqttConnection({
      url: mosquitto.url,
      tls: await pki.identity({ kind: "hub", id: "h1" }),
      clientId: "hubs/h1",
      protocolVersion: 5,
      onMessage: (topic) => seen.push(topic),
    });
    stoppables.push(snoop);
    snoop.start();
    await snoop.waitConnected(connectWaitMs);
    await snoop.subscribe(topicFor("hub", "h2", "res"), 1).catch(() => undefined);
    await snoop.subscribe("tapwire/v1/#", 1).catch(() => undefined);
    const victim = await hubLink("h2");

    await victim.request(Buffer.from("m-5"), "m-5", 5_000);
    await snoop.subscribe(topicFor("hub", "h1", "res"), 1);

    expect(seen).toEqual([]);
  });

  it("drops a payload over the message size limit", async () => {
    // Mosquitto answers with PUBACK 0x95, a code MQTT 5 does not allow on PUBACK, which mqtt.js cannot parse:
    // the publisher sees no acknowledgement, so its publish times out.
    const hub = new MqttConnection({
      url: mosquitto.url,
      tls: await pki.identity({ kind: "hub", id: "h1" }),
      clientId: "hubs/h1",
      protocolVersion: 5,
      publishTimeoutMs: 500,
    });
    stoppables.push(hub);
    hub.start();
    await hub.waitConnected(connectWaitMs);
    const before = handled.length;

    const refused = await hub.publish(topicFor("hub", "h1", "req"), Buffer.alloc(messageBytesMax + 1), { qos: 1 }).catch((error: unknown) => error);
    const honest = await hubLink("h2");
    await honest.request(Buffer.from("m-4"), "m-4", 5_000);

    expect(isTapwireError(refused)).toBe(true);
    expect(handled.slice(before).map((inbound) => inbound.id)).toEqual(["h2"]);
    expect(await mosquitto.log()).toContain("Dropped too large PUBLISH from hubs/h1");
  });

  it("refuses a client without a certificate: its CONNECT gets no CONNACK", async () => {
    const connectPacket = Buffer.from([0x10, 0x0d, 0x00, 0x04, ...Buffer.from("MQTT"), 0x04, 0x02, 0x00, 0x1e, 0x00, 0x01, 0x78]);
    const received = await new Promise<number>((resolve) => {
      let bytes = 0;
      const socket = tlsConnect({ host: mosquitto.host, port: mosquitto.port, ca: pki.ca.certPem, servername: "localhost" });
      socket.on("secureConnect", () => socket.write(connectPacket));
      socket.on("data", (chunk: Buffer) => (bytes += chunk.length));
      socket.on("error", () => undefined);
      socket.on("close", () => resolve(bytes));
    });

    expect(received).toBe(0);
  });

  it("refuses a certificate from another CA", async () => {
    const stranger = await (await createTestPki("someone else's CA")).identity({ kind: "hub", id: "h1" });
    const link = new HubLink({
      url: mosquitto.url,
      tls: { ...stranger, caPem: pki.ca.certPem },
      principal: { kind: "hub", id: "h1" },
      protocolVersion: 5,
      servicePublicKey: serviceKeys.publicKey,
      reconnectAttemptsMax: 0,
    });
    stoppables.push(link);
    link.start();

    const failure = await link.waitConnected(connectWaitMs).catch((error: unknown) => error);

    expect(isTapwireError(failure)).toBe(true);
    expect(link.connected).toBe(false);
  });

  it("refuses a revoked hub at the TLS handshake (crlfile), and lets an enrolled one in", async () => {
    const enrolled = await pki.identity({ kind: "hub", id: "h1" });

    expect(await connects(revokedHub, "hubs/h-revoked")).toBe(false);
    expect(await connects(enrolled, "hubs/h1")).toBe(true);
  });

  it("keeps the settlement service connected when a hub connects under its client id (use_username_as_clientid)", async () => {
    expect(await connects(await pki.identity({ kind: "hub", id: "h2" }), "services/settlement@worker-1")).toBe(true);

    const reply = await (await hubLink("h3")).request(Buffer.from("after-takeover"), "after-takeover", 5_000);

    expect(reply.decision.requestId).toBe("after-takeover");
    expect(service.connected).toBe(true);
    expect(await mosquitto.log()).not.toContain("already connected, closing old connection");
  });

  it("shares requests between two workers of a group, each with its own certificate, neither pushing the other off", async () => {
    const handledBy = { "worker-1": 0, "worker-2": 0 };
    for (const instance of ["worker-1", "worker-2"] as const) {
      const worker = new ServiceLink({
        transport: new MqttServiceTransport({
          url: mosquitto.url,
          // As SettlementNode does with --instance: the worker's own certificate, services/settlement.<instance>.
          tls: await pki.identity(settlementPrincipal(instance)),
          protocolVersion: 5,
          sharedGroup: "workers",
          instance,
          serviceId: settlementPrincipal(instance).id,
        }),
        handler: async () => {
          handledBy[instance] += 1;
          return [];
        },
      });
      stoppables.push(worker);
      worker.start();
      await worker.waitConnected(connectWaitMs);
    }
    const hub = await hubLink("h4");

    for (let i = 0; i < 20; i++) await hub.publishRaw(topicFor("hub", "h4", "req"), Buffer.from(`shared-${i}`), { qos: 1 });
    await eventually(() => handledBy["worker-1"] + handledBy["worker-2"] === 20, 5_000);

    expect(handledBy["worker-1"]).toBeGreaterThan(0);
    expect(handledBy["worker-2"]).toBeGreaterThan(0);
    expect(await mosquitto.log()).not.toContain("already connected, closing old connection");
  });
});
